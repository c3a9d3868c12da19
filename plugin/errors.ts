/** Re-export for the files that still import it here; every error is defined in core/errors.ts. */
export { InvalidOptionError, ClosedError, UnknownTaskError, storeUnavailable } from '../core/errors.js'
