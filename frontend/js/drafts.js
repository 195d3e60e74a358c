// Unsent form input kept across a "session ended" sign-in: in memory only, never in storage.
// A draft belongs to one user and one page, and is handed back once.

let kept = null;

/** Keep what `userId` had typed on `path` (`draft` is any plain object from the view). */
export function keep(path, userId, draft) {
  kept = draft ? { path, userId, draft } : null;
}

/** The draft for `path` if the same user is signed in again; forgotten either way. */
export function take(path, userId) {
  if (!kept || kept.path !== path) return null;
  const { userId: owner, draft } = kept;
  kept = null;
  return owner === userId ? draft : null;
}

/** Forget any draft (e.g. someone else signed in, or the user signed out on purpose). */
export function discard() {
  kept = null;
}
