//! CPU time this process has used, to the nanosecond (Linux `schedstat`), so a short phase
//! such as one watch fan-out can be charged to the end that did the work: with every core
//! busy, wall time is bounded by the CPU all of them need divided by the cores.

use std::time::Duration;

use anyhow::Context;

/// CPU time used so far by all threads of this process.
pub fn own_cpu() -> anyhow::Result<Duration> {
    let dir = "/proc/self/task";
    let mut total = 0u64;
    for task in std::fs::read_dir(dir).with_context(|| format!("reading {dir}"))? {
        let path = task?.path().join("schedstat");
        // A thread that ended between the listing and the read used no more CPU.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let on_cpu = text
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .with_context(|| format!("unexpected {}: {text:?}", path.display()))?;
        total += on_cpu;
    }
    Ok(Duration::from_nanos(total))
}

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_shows_up_as_cpu_time() -> anyhow::Result<()> {
        let before = own_cpu()?;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        // Spin until 20 ms of CPU are counted; a reader that never counts runs out of time.
        while own_cpu()? - before < Duration::from_millis(20) {
            assert!(
                std::time::Instant::now() < deadline,
                "spinning was not counted"
            );
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        Ok(())
    }
}
