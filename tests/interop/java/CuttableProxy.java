import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;

/**
 * A TCP forwarder on 127.0.0.1 whose connections can be cut, so that a client can be
 * made to lose its connection (and then reconnect, possibly to another member) without
 * touching any server process.
 */
final class CuttableProxy implements AutoCloseable {
    private final ServerSocket listener;
    private final List<Socket> open = new ArrayList<>();
    private volatile String target;
    private volatile boolean refusing;

    CuttableProxy(String target) throws IOException {
        this.target = target;
        this.listener = new ServerSocket();
        listener.bind(new InetSocketAddress("127.0.0.1", 0));
        Thread acceptor = new Thread(this::acceptLoop, "proxy-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** host:port that clients connect to. */
    String address() {
        return "127.0.0.1:" + listener.getLocalPort();
    }

    /** Closes every forwarded connection and refuses new ones until resume(). */
    void cut() {
        refusing = true;
        synchronized (open) {
            for (Socket s : open) {
                try {
                    s.close();
                } catch (IOException e) {
                    // closing anyway
                }
            }
            open.clear();
        }
    }

    /** Accepts connections again, forwarding them to `newTarget`. */
    void resume(String newTarget) {
        target = newTarget;
        refusing = false;
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                if (refusing) {
                    client.close();
                    continue;
                }
                String[] hp = target.split(":");
                Socket server = new Socket(hp[0], Integer.parseInt(hp[1]));
                synchronized (open) {
                    open.add(client);
                    open.add(server);
                }
                pump(client, server);
                pump(server, client);
            } catch (IOException e) {
                // listener closed, or the target refused: the client retries
            }
        }
    }

    private static void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[65536];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // one side closed
            } finally {
                try {
                    from.close();
                    to.close();
                } catch (IOException e) {
                    // closing anyway
                }
            }
        }, "proxy-pump");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void close() throws IOException {
        listener.close();
        cut();
    }
}
