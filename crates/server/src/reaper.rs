//! The leader's reaper: deletes empty container nodes that have had children and TTL
//! nodes past their TTL, by proposing deleteContainer entries (ZooKeeper's container
//! manager). The tree re-checks each candidate when the entry applies.

use paddock_jute::{PathRequest, Request};
use paddock_raft::Role;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::command;
use crate::server::Context;
use crate::state::now_ms;

/// Runs until `stop`, once per reaper interval, only while this node leads.
pub(crate) async fn run(ctx: Context, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(ctx.shared.config.reaper_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if ctx.status.borrow().role != Role::Leader {
            continue;
        }
        let now = now_ms();
        let candidates = {
            let core = ctx.shared.core.lock();
            core.tree
                .reap_candidates(now, ctx.shared.config.reaper_batch_max)
        };
        for path in candidates {
            debug!(%path, "reaping");
            let entry = command::write(
                now_ms(),
                command::Client::INTERNAL,
                &[],
                &Request::DeleteContainer(PathRequest { path }),
            );
            if let Err(error) = ctx.proposer.propose(entry).await {
                warn!(%error, "reaper proposal failed; will retry next round");
                break;
            }
        }
    }
}
