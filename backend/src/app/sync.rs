//! Delta sync: the owner's changes after a position in their change
//! sequence, as live todos in their latest state and ids that left the
//! list (trashed or purged). Driven by `users.change_seq`, never by clocks.
//!
//! A position `(seq, id)` says "every change up to this one has been
//! delivered", in the total order `(change_seq, id)` over live todos and
//! tombstones (one write may stamp several rows with one number). Numbers
//! are handed out under the user's row lock, so they commit in order: once
//! `users.change_seq` reads `n`, every change numbered `n` or lower is
//! visible, and a later write only ever moves a row to a higher number,
//! where the next call finds it. Hence a client that applies every
//! response and keeps the last token converges to the server's state.

use crate::db::Conn;
use serde::{Deserialize, Serialize};

use crate::db::models::sync;
use crate::db::models::todo::{self, Todo};
use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 500;

/// Where a client stands; what a sync token carries (signed, with the
/// owner, by the API layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPosition {
    /// Everything up to `(seq, id)` has been delivered.
    #[serde(rename = "s")]
    pub seq: i64,
    #[serde(rename = "i")]
    pub id: i64,
    /// During a first (full) sync: the owner's sequence when it began.
    /// Tombstones up to it name todos the client never received, so they
    /// are skipped. 0 otherwise.
    #[serde(rename = "b")]
    pub base: i64,
}

impl SyncPosition {
    /// Whether this client has seen every change up to `floor`, the newest
    /// change whose tombstones may have been pruned: then it needs none of
    /// them. (Tombstones up to `base` it never needed.)
    fn outlives(self, floor: i64) -> bool {
        self.base >= floor || self.seq > floor || (self.seq == floor && self.id == i64::MAX)
    }
}

/// One response of `GET /todos/changes`.
#[derive(Debug)]
pub struct Changes {
    pub items: Vec<Todo>,
    pub deleted_ids: Vec<i64>,
    pub next: SyncPosition,
    pub has_more: bool,
}

/// The owner's changes after `since` (everything live when `None`), at
/// most `limit` entries. 410 `sync_expired` when tombstones the client
/// needs may have been pruned (or the position is from a future this
/// database never reached, as after a restore from backup).
pub fn changes(
    conn: &mut Conn<'_>,
    owner: i64,
    since: Option<SyncPosition>,
    limit: i64,
) -> ApiResult<Changes> {
    let (upto, floor) = sync::position(conn, owner)?;
    let from = match since {
        None => SyncPosition {
            seq: 0,
            id: 0,
            base: upto,
        },
        Some(p) if p.seq > upto || p.base > upto || !p.outlives(floor) => {
            return Err(ApiError::SyncExpired)
        }
        Some(p) => p,
    };
    let fetch = limit + 1;
    let todos = todo::changed_after(conn, owner, (from.seq, from.id), upto, fetch)?;
    let tombstones =
        sync::tombstones_after(conn, owner, (from.seq, from.id), from.base, upto, fetch)?;
    let has_more = todos.len() + tombstones.len() > usize::try_from(limit).unwrap_or(usize::MAX);

    // Merge the two change-ordered lists, taking `limit` entries.
    let mut items = Vec::new();
    let mut deleted_ids = Vec::new();
    let mut last = (from.seq, from.id);
    let mut todos = todos.into_iter().peekable();
    let mut tombstones = tombstones.into_iter().peekable();
    for _ in 0..limit {
        let todo_key = todos.peek().map(|t| (t.change_seq, t.id));
        let tomb_key = tombstones.peek().map(|&(id, seq)| (seq, id));
        match (todo_key, tomb_key) {
            (Some(t), Some(d)) if t < d => {
                items.extend(todos.next());
                last = t;
            }
            (Some(t), None) => {
                items.extend(todos.next());
                last = t;
            }
            (_, Some(d)) => {
                deleted_ids.extend(tombstones.next().map(|(id, _)| id));
                last = d;
            }
            (None, None) => break,
        }
    }
    let next = if has_more {
        SyncPosition {
            seq: last.0,
            id: last.1,
            base: if from.base > last.0 { from.base } else { 0 },
        }
    } else {
        // Everything up to `upto` is delivered.
        SyncPosition {
            seq: upto,
            id: i64::MAX,
            base: 0,
        }
    };
    Ok(Changes {
        items,
        deleted_ids,
        next,
        has_more,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_outlives_the_pruned_history_only_when_it_saw_all_of_it() {
        let p = |seq, id, base| SyncPosition { seq, id, base };
        assert!(p(0, 0, 0).outlives(0), "nothing pruned yet");
        assert!(p(6, 1, 0).outlives(5));
        assert!(
            p(5, i64::MAX, 0).outlives(5),
            "everything up to 5 delivered"
        );
        assert!(
            !p(5, 3, 0).outlives(5),
            "may have missed a tombstone of change 5"
        );
        assert!(!p(4, i64::MAX, 0).outlives(5));
        assert!(
            p(2, 7, 5).outlives(5),
            "a first sync that began after change 5"
        );
        assert!(!p(2, 7, 4).outlives(5));
    }
}
