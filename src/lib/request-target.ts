/**
 * The path and query of an HTTP request target, parsed without throwing: a request line may carry
 * anything (an absolute URL with a bad port, bytes that are not a path), and a listener that lets
 * `new URL` throw crashes its process. Only origin-form targets ("/path?query") are accepted.
 */
export interface RequestTarget {
  pathname: string;
  query: URLSearchParams;
}

export function parseRequestTarget(raw: string | undefined): RequestTarget | undefined {
  if (raw === undefined || !raw.startsWith('/') || raw.startsWith('//')) return undefined;
  try {
    const url = new URL(raw, 'http://localhost');
    return { pathname: url.pathname, query: url.searchParams };
  } catch {
    return undefined;
  }
}

/** decodeURIComponent that answers undefined for malformed percent-encoding instead of throwing. */
export function decodePathSegment(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
