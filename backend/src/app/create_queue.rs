//! Group commit for one owner's creates. Every write to an owner's todos
//! takes the owner's change sequence, so it holds the owner's row until it
//! commits, and a commit waits for its flush to disk (PostgreSQL
//! `synchronous_commit = on`; SQLite's WAL commit). One owner's creates are
//! therefore serialised, one flush each. When they arrive together (an
//! offline client replaying its queue, an import over an API token), the
//! creates waiting in this instance for the same owner go in one
//! transaction instead: one `UPDATE users`, one multi-row `INSERT`, one
//! commit ([`todos::create_many`]). Nothing is given up: each create is
//! acknowledged only after the commit that holds it, sequence numbers stay
//! gap-free and in arrival order, and the quota is checked as before.
//!
//! A create that finds the owner's queue idle starts a drain on the
//! blocking pool and waits like the others. The drain takes what is queued
//! (at most [`MAX_BATCH`]), commits it, answers each request, and goes on
//! until the queue is empty, when it removes the owner's entry under the
//! same lock the creates take: no create is left behind. The drain runs
//! detached from the request that started it, so a client that goes away
//! ends nothing but its own wait.
//!
//! If the batch's transaction fails, each of its creates is tried again in
//! a transaction of its own, so one request's failure is never another's.
//!
//! The API uses it on PostgreSQL only, where each commit waits for
//! `fdatasync` (0.28 ms on the benchmark machine: at most ~3,600 commits
//! of one owner per second, whatever the CPU). SQLite in WAL mode with
//! `synchronous = NORMAL` does not flush at commit; there the queue did
//! double one account's creates, but the commit that crosses
//! `wal_autocheckpoint` runs the checkpoint (a flush) before it returns,
//! and the owner's queued creates waited behind it: creates over 64
//! accounts went from a p99 of ~100 ms to 300-400 ms. Moving checkpoints
//! to a background task removed that tail but cost PATCH about 11 %, so
//! SQLite keeps one transaction per create (`docs/performance.md`).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::app::todos::{self, NewTodoInput};
use crate::db::models::todo::Todo;
use crate::db::DbPool;
use crate::error::{ApiError, ApiResult};

/// The most creates one transaction takes (11 bound values each).
pub const MAX_BATCH: usize = 64;

struct Waiting {
    input: NewTodoInput,
    reply: oneshot::Sender<ApiResult<Todo>>,
}

/// The creates waiting, per owner. An owner has an entry while a drain
/// runs for it.
#[derive(Default)]
pub struct CreateQueue {
    waiting: Mutex<HashMap<i64, Vec<Waiting>>>,
}

impl CreateQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Creates a todo for `owner` (see [`todos::create`]), in a transaction
    /// shared with the owner's other creates waiting in this instance.
    pub async fn create(
        self: &Arc<Self>,
        pool: &DbPool,
        owner: i64,
        input: NewTodoInput,
        max_todos: i64,
    ) -> ApiResult<Todo> {
        let (reply, answer) = oneshot::channel();
        let idle = match self.lock().entry(owner) {
            Entry::Occupied(mut queue) => {
                queue.get_mut().push(Waiting { input, reply });
                false
            }
            Entry::Vacant(slot) => {
                slot.insert(vec![Waiting { input, reply }]);
                true
            }
        };
        if idle {
            let queue = Arc::clone(self);
            let pool = pool.clone();
            // Detached: it ends when the owner's queue is empty.
            drop(actix_web::rt::task::spawn_blocking(move || {
                queue.drain(&pool, owner, max_todos);
            }));
        }
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("a queued create was dropped")))?
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, Vec<Waiting>>> {
        // The map stays consistent whatever a panicking holder did: each
        // change is one call.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits the owner's queued creates, a batch at a time, until none
    /// is left; then removes the owner's entry.
    fn drain(&self, pool: &DbPool, owner: i64, max_todos: i64) {
        let _guard = DrainGuard { queue: self, owner };
        loop {
            let batch: Vec<Waiting> = {
                let mut waiting = self.lock();
                let Some(queue) = waiting.get_mut(&owner) else {
                    return;
                };
                if queue.is_empty() {
                    waiting.remove(&owner);
                    return;
                }
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            let (inputs, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|w| (w.input, w.reply)).unzip();
            let outcomes = commit(pool, owner, inputs, max_todos);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A client that went away no longer waits: nothing to do.
                let _ = reply.send(outcome);
            }
        }
    }
}

/// One outcome per input, in order.
fn commit(
    pool: &DbPool,
    owner: i64,
    inputs: Vec<NewTodoInput>,
    max_todos: i64,
) -> Vec<ApiResult<Todo>> {
    if inputs.len() > 1 {
        match pool.write(|tx| todos::create_many(tx, owner, &inputs, max_todos)) {
            Ok(outcomes) => return outcomes,
            Err(error) => log::warn!(
                "a batch of {} creates failed ({error}); trying each alone",
                inputs.len()
            ),
        }
    }
    inputs
        .into_iter()
        .map(|input| pool.write(|tx| todos::create(tx, owner, input, max_todos)))
        .collect()
}

/// Should a drain ever panic, the owner's entry goes with it (and the
/// waiting creates get an error), so later creates start a new drain
/// instead of queueing behind one that is gone.
struct DrainGuard<'a> {
    queue: &'a CreateQueue,
    owner: i64,
}

impl Drop for DrainGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.queue.lock().remove(&self.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::testing::{add_user, memory_pool, new_todo};
    use crate::db::models::sync;
    use crate::db::Conn;
    use crate::domain::Role;

    /// A database with one account, and an idle queue.
    fn setup() -> (DbPool, i64, Arc<CreateQueue>) {
        let pool = memory_pool();
        let owner = {
            let mut pooled = pool.sqlite();
            let conn = &mut Conn::Sqlite(&mut pooled);
            add_user(conn, "q@example.com", "x", Role::User, crate::clock::now()).id
        };
        (pool, owner, CreateQueue::new())
    }

    #[actix_web::test]
    async fn one_owners_concurrent_creates_all_land_with_gap_free_sequence_numbers() {
        let (pool, owner, queue) = setup();
        let creates = (0..150).map(|i| queue.create(&pool, owner, new_todo(&format!("t{i}")), 0));
        let made: Vec<Todo> = futures_util::future::join_all(creates)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let (last, _) = {
            let mut pooled = pool.sqlite();
            sync::position(&mut Conn::Sqlite(&mut pooled), owner).unwrap()
        };
        let mut seqs: Vec<i64> = made.iter().map(|t| t.change_seq).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (last - 149..=last).collect::<Vec<_>>());
        // Each request got its own todo back.
        for (i, todo) in made.iter().enumerate() {
            assert_eq!(todo.title, format!("t{i}"));
        }
        // The drain removes the owner's entry once the queue is empty.
        for _ in 0..100 {
            if queue.lock().is_empty() {
                return;
            }
            actix_web::rt::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the owner's queue entry outlived its creates");
    }

    #[actix_web::test]
    async fn the_quota_holds_across_queued_creates() {
        let (pool, owner, queue) = setup();
        let creates = (0..20).map(|i| queue.create(&pool, owner, new_todo(&format!("t{i}")), 7));
        let outcomes = futures_util::future::join_all(creates).await;
        let created = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(created, 7);
        assert!(outcomes
            .iter()
            .filter_map(|o| o.as_ref().err())
            .all(|e| matches!(e, ApiError::QuotaExceeded)));
    }
}
