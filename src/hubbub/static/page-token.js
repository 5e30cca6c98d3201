// The access token of a page (the chat page, the operations page): given as
// `#token=...` (a fragment is never sent to the server, so never in its logs or a
// proxy's), then kept for this tab in sessionStorage under the page's own key and taken
// out of the address bar.

/** The token, or null: from `#token=`, else what this tab kept under `key`. */
export function pageToken(key) {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    try {
      sessionStorage.setItem(key, given);
    } catch {
      // Kept for this load only.
    }
    history.replaceState(null, "", location.pathname + location.search);
    return given;
  }
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}
