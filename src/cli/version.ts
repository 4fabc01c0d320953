/** The CLI's own version (`dabba --version`, `dabba version`). */
export const CLI_VERSION = '0.1.0';
