// Codes as links to their reference pages: OMIM, Orphanet, the HPO browser, and DOIs at doi.org.
//
// These are the only addresses outside the API's origin the viewer names, and they are places a clinician
// goes (a link opened in a new tab, rel="noopener noreferrer"), never something the page loads: the CSP
// still admits scripts, styles, images and connections from this origin only. A code is linked only when
// it has the exact shape of its namespace, so a code from the corpus cannot steer the address anywhere else.

import { h } from "./common.js";

/** Namespace -> [pattern of a whole code, the URL of its page]. */
const REFERENCES = {
  OMIM: [/^OMIM:(\d{6})$/, (n) => `https://omim.org/entry/${n}`],
  ORPHA: [/^ORPHA:(\d{1,7})$/, (n) => `https://www.orpha.net/en/disease/detail/${n}`],
  HP: [/^HP:(\d{7})$/, (n) => `https://hpo.jax.org/browse/term/HP:${n}`],
  // A DOI (a guideline's reference): only the characters DOIs are made of, so it cannot leave doi.org.
  doi: [/^doi:(10\.\d{4,9}\/[-._;()/:A-Za-z0-9]+)$/, (n) => `https://doi.org/${n}`],
};

/** The reference page of a code (OMIM:154700, ORPHA:558, HP:0001166, doi:10.…), or null for any other code. */
export function codeUrl(code) {
  const text = String(code ?? "").trim();
  const reference = REFERENCES[text.split(":", 1)[0]];
  if (!reference) return null;
  const found = reference[0].exec(text);
  return found ? reference[1](found[1]) : null;
}

/**
 * A code as a link that opens its reference page in a new tab (text: the code, or `label` when given), or
 * as plain text when it has no reference page.
 */
export function codeLink(code, { label = null, className = "code" } = {}) {
  const url = codeUrl(code);
  const text = label === null ? String(code ?? "") : String(label);
  if (!url) return h("span", { class: className }, text);
  return h(
    "a",
    {
      class: `${className} code-link`,
      href: url,
      target: "_blank",
      rel: "noopener noreferrer",
      title: `${code}: opens its reference page in a new tab`,
    },
    text,
  );
}
