/** Optional peers the packages may declare; each is documented in its README. */
export declare const OPTIONAL_PEERS: ReadonlySet<string>;
/**
 * Every broken package convention of the workspace at `rootDir` (default: this
 * repository), as `<file>: <what is wrong and how to fix it>`.
 */
export declare function conventionProblems(rootDir?: string): string[];
