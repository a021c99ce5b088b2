/**
 * Command errors for device code. The reply vocabulary is defined once in core/replies.ts (shared with the bridge
 * and the scenario runner); this module re-exports it so device kinds import from one place.
 */
export { CommandError, REPLY_STATUS } from '../core/replies.ts'
