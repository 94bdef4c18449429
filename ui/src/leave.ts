/**
 * Unsaved work that leaving its page would lose: a page with unsaved
 * changes names them here ("the changes to plan pro"), and the app asks
 * before it navigates away.
 */
let unsaved: string | null = null;

export function setUnsaved(what: string | null) {
  unsaved = what;
}

export function unsavedWork(): string | null {
  return unsaved;
}
