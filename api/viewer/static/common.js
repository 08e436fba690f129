// Shared by the clinician viewer and the auditor view: DOM building, the API key, API calls, errors.
//
// Every piece of text that comes from the API (documents, model output, findings, error details) goes
// into the page through createTextNode / textContent, never through an HTML parser: a poisoned corpus
// document titled "<img src=x onerror=...>" is shown as those characters. The page's CSP (no inline
// script, Trusted Types with no policy) would stop an HTML sink anyway; this module never needs one.

const KEY_STORAGE = "dxsearch.apiKey";

/** Appends children to a node: strings and numbers as text nodes, nodes as they are, arrays flattened. */
export function append(node, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

/**
 * Creates an element. attrs: "class", "text" (textContent), "dataset" (object), "on<event>" (function),
 * anything else as an attribute. Children are appended with append(). Attribute names starting with
 * "on" must be functions: no inline handler can be set from a string.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) {
      if (typeof value !== "function") throw new TypeError(`${name} must be a function`);
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
  return append(node, children);
}

/** Removes every child of a node. */
export function clear(node) {
  node.replaceChildren();
  return node;
}

// -- the API key: this tab only ---------------------------------------------------------------------------

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

// -- API calls ---------------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message, requestId = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.requestId = requestId;
  }
}

const STATUS_TEXT = {
  400: "Malformed request",
  401: "Not authorised: the API key is missing or unknown",
  403: "Forbidden: this key's role may not do this",
  404: "Not found",
  413: "Request too large: over the server's size limit",
  422: "Not a valid case",
  429: "Too many requests: this key's rate limit is reached",
  500: "Internal error of the DxSearch API",
  503: "Service unavailable: the index is still loading, or the audit log cannot record decisions",
  504: "Timed out: the diagnostic policy did not finish in time",
};

/** A sentence for a failed response: what the status means, the server's detail, when to retry. */
export function describeFailure(status, body, headers) {
  const parts = [STATUS_TEXT[status] || `Request failed (HTTP ${status})`];
  const detail = body && typeof body.detail === "string" ? body.detail : null;
  if (detail) parts.push(detail);
  const retry = headers ? headers.get("Retry-After") : null;
  if ((status === 429 || status === 503) && retry) parts.push(`retry in ${retry} s`);
  return parts.join(" — ");
}

/** Calls the API with the tab's key; resolves to the JSON body, rejects with an ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const key = getKey();
  if (!key) throw new ApiError(401, "Enter an API key first (the “API key” box at the top of the page).");
  const headers = { Authorization: `Bearer ${key}`, Accept: "application/json" };
  const init = { method, headers, cache: "no-store", credentials: "omit", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "Could not reach the DxSearch API (network error). Is the server running?");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const requestId = data && typeof data.request_id === "string" ? data.request_id : null;
    throw new ApiError(response.status, describeFailure(response.status, data, response.headers), requestId);
  }
  return data;
}

/** Shows an error (an ApiError or any Error) in an alert box; hides the box when error is null. */
export function showError(box, error) {
  clear(box);
  if (!error) {
    box.hidden = true;
    return;
  }
  const status = error instanceof ApiError && error.status ? `HTTP ${error.status}: ` : "";
  append(box, h("strong", {}, "Error. "), status, error.message || String(error));
  if (error instanceof ApiError && error.requestId) {
    append(box, " ", h("span", { class: "request-id" }, `(request id ${error.requestId})`));
  }
  box.hidden = false;
}

/** Keys are sent in an HTTP header: printable ASCII only. */
export function checkKey(key) {
  if (!key) return "Paste an API key.";
  if (!/^[\x21-\x7e]+$/.test(key)) return "An API key is printable ASCII without spaces.";
  return null;
}

/**
 * Wires the API-key form shared by both pages: #key-form, #api-key, #forget-key, #key-status.
 * onChange(hasKey) runs after the key was set or forgotten (and once at start-up).
 */
export function setupKeyForm(onChange) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const status = document.getElementById("key-status");
  const forget = document.getElementById("forget-key");

  const describe = () => {
    status.textContent = getKey()
      ? "A key is set for this tab (kept in sessionStorage, never sent anywhere but this API)."
      : "No key set.";
    forget.disabled = !getKey();
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    const problem = checkKey(key);
    if (problem) {
      status.textContent = problem;
      input.focus();
      return;
    }
    setKey(key);
    input.value = "";
    describe();
    try {
      const corpus = await api("/v1/corpus");
      const documents = Object.values((corpus.counts && corpus.counts.documents) || {}).reduce(
        (sum, n) => sum + (typeof n === "number" ? n : 0),
        0,
      );
      status.textContent = `Key accepted. Index ${corpus.index_version}, ${documents} documents.`;
    } catch (error) {
      status.textContent = `The key was stored, but the API refused it: ${error.message}`;
    }
    onChange(true);
  });

  forget.addEventListener("click", () => {
    forgetKey();
    describe();
    onChange(false);
    input.focus();
  });

  describe();
  onChange(Boolean(getKey()));
}

/** Formats a number as a fixed-point string, or "–" when absent. */
export function fixed(value, digits = 3) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "–";
}

/**
 * A probability as every part of the viewer prints it, by the rule of the API and command line
 * (dxsearch/protocol.py `probability_text`): two places, except that one that would print as 0.00 is
 * "under 0.01" and one that would print as 1.00 is "over 0.99" (0 and 1 included: no policy here is ever
 * certain). "–" when absent. Why: the considered list printed "probability 0.00" while the next steps beside it
 * said "(<0.01)" and the command line "under 0.01".
 */
export function probabilityFigure(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  const shown = value.toFixed(2);
  if (value >= 0 && value <= 1) {
    if (Number(shown) === 0) return "under 0.01";
    if (Number(shown) === 1) return "over 0.99";
  }
  return shown;
}

/** A readable local time for an ISO timestamp (the ISO text itself when it does not parse). */
export function localTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}
