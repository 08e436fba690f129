// Rendering of a decision (a diagnose response or a stored audit record): the differential with, for each
// diagnosis, what it explains of the case, its genes and inheritance, and its evidence chain; the reasoning
// turns; and a cited passage shown in its document with the lines that support the claim highlighted.
//
// All of it is text from the corpus or the model: built with h()/append() (text nodes), never parsed as
// HTML. Nothing here reasons about the case: every figure is read from the trace or from the cited
// documents, and the viewer only says where it came from.

import { api, append, clear, fixed, h, localTime, probabilityFigure, showError } from "./common.js";
import { codeLink } from "./links.js";
import { renderNextSteps } from "./next_steps.js";

const KIND_LABELS = {
  patient_record: "Patient record",
  disease_knowledge: "Disease knowledge",
  guideline: "Guideline",
};

const OUTCOME_LABELS = {
  diagnosed: "Diagnosed",
  insufficient_evidence: "Insufficient evidence",
  no_diagnosis: "No diagnosis",
};

export function kindLabel(kind) {
  return KIND_LABELS[kind] || String(kind || "unknown");
}

export function outcomeLabel(outcome) {
  return OUTCOME_LABELS[outcome] || String(outcome || "unknown");
}

// What an evidence button was cited for (the diagnosis, the findings the passage names): the passage panel
// highlights the lines that carry it. Kept beside the button, not in the DOM.
const claims = new WeakMap();

/** A button that opens an evidence passage (handled by the delegated listener of wireEvidenceLinks). */
export function evidenceButton(evidenceId, claim = null) {
  const button = h(
    "button",
    {
      type: "button",
      class: "evidence-link",
      dataset: { evidenceId: String(evidenceId) },
      "aria-label": `Show passage ${evidenceId} in its source document`,
    },
    String(evidenceId),
  );
  if (claim) claims.set(button, claim);
  return button;
}

/**
 * The diagnoses of a decision in one shape, whether they come from the /v1/diagnose response
 * (score, retrieval_score) or from the stored trace (confidence, score).
 */
export function normaliseDiagnoses(trace, key = "diagnoses") {
  const diagnoses = Array.isArray(trace && trace[key]) ? trace[key] : [];
  return diagnoses.map((d, i) => ({
    rank: typeof d.rank === "number" ? d.rank : i + 1,
    name: String(d.name ?? ""),
    code: d.code ?? null,
    alternateCodes: Array.isArray(d.alternate_codes) ? d.alternate_codes.map(String) : [],
    confidence: typeof d.confidence === "number" ? d.confidence : typeof d.score === "number" ? d.score : null,
    evidence: (Array.isArray(d.evidence) ? d.evidence : []).map((e) => ({
      evidenceId: String(e.evidence_id ?? ""),
      docId: String(e.doc_id ?? ""),
      title: String(e.title ?? ""),
      kind: e.kind,
      section: e.section ?? null,
      supports: Array.isArray(e.supports) ? e.supports.map(String) : [],
      mentionsDiagnosis: Boolean(e.mentions_diagnosis),
      score: typeof e.retrieval_score === "number" ? e.retrieval_score : e.score,
      rank: e.retrieval_rank ?? e.rank,
    })),
    unsupported: Array.isArray(d.unsupported_citations) ? d.unsupported_citations.map(String) : [],
    // A structured explanation, when a later trace or response carries one (see explanationDetail).
    explanation: d.explanation && typeof d.explanation === "object" ? d.explanation : null,
  }));
}

/** The case's findings: all of them, those present (observed) and those looked for and absent. */
export function caseFindings(trace) {
  const all = ((trace && trace.case && Array.isArray(trace.case.findings) && trace.case.findings) || []).map((f) => ({
    label: String(f.label ?? ""),
    hpoId: f.hpo_id ? String(f.hpo_id) : null,
    excluded: Boolean(f.excluded),
  }));
  return { all, present: all.filter((f) => !f.excluded), absent: all.filter((f) => f.excluded) };
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Whole-word, case-insensitive: the rule the server uses for `supports` ("syndrome" is not "Marfan syndrome"). */
function wordPattern(phrase) {
  return new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(phrase.trim())}(?![\\p{L}\\p{N}_])`, "iu");
}

/**
 * What the policy's reasoning says each diagnosis explains: {explained, entered, listed, turn} per code (and
 * per name), from lines such as "Marfan syndrome (OMIM:154700): ... explains 3/4 findings (A, B, C); ..." or
 * "1. Marfan syndrome [OMIM:154700] ... explains 3/4 findings; ...". `listed` is null when the line names
 * no findings. The last reasoning turn that speaks of a diagnosis wins (it is the one the ranking used).
 */
export function reasoningCoverage(trace) {
  const found = new Map();
  const turns = Array.isArray(trace && trace.turns) ? trace.turns : [];
  for (const [position, turn] of turns.entries()) {
    if (turn.action !== "reason" || typeof turn.text !== "string") continue;
    for (const line of turn.text.split(/\r?\n/)) {
      const coverage = /\bexplains (\d+)\/(\d+) findings(?: \(([^()]*)\))?/.exec(line);
      if (!coverage) continue;
      const named = /^(?:\d+\.\s+)?(.+?) [([]([A-Za-z]+:[^()[\]\s]+)[)\]][:\s]/.exec(line.replace(/^<reason>/, ""));
      if (!named) continue;
      const listed =
        coverage[3] === undefined ? null : coverage[3] === "none directly" ? [] : coverage[3];
      const entry = {
        explained: Number(coverage[1]),
        entered: Number(coverage[2]),
        listed,
        turn: typeof turn.index === "number" ? turn.index : position,
      };
      found.set(named[2], entry);
      found.set(`name:${named[1].trim().toLowerCase()}`, entry);
    }
  }
  return found;
}

/**
 * The present findings a diagnosis explains and those it does not, from the reasoning's coverage line.
 * Returns null when the trace does not say. `complete` is false when the line names only some of the
 * findings it counts (the reasoning lists at most a few), so "does not explain" cannot be told apart.
 */
export function explainedFindings(diagnosis, coverage, findings) {
  const entry =
    (diagnosis.code && coverage.get(diagnosis.code)) || coverage.get(`name:${diagnosis.name.trim().toLowerCase()}`);
  if (!entry) return null;
  const result = { explained: entry.explained, entered: entry.entered, turn: entry.turn, yes: [], no: [], complete: false };
  if (entry.listed === null) {
    // No names, but "all" and "none" need none.
    if (findings.present.length === entry.entered && (entry.explained === 0 || entry.explained === entry.entered)) {
      result[entry.explained ? "yes" : "no"] = [...findings.present];
      result.complete = true;
    }
    return result;
  }
  const listed = Array.isArray(entry.listed) ? "" : `, ${entry.listed}, `;
  for (const finding of findings.present) {
    const names = [finding.label, finding.hpoId].filter(Boolean);
    const hit = names.some((name) => listed.includes(`, ${name}, `));
    (hit ? result.yes : result.no).push(finding);
  }
  result.complete = result.yes.length === entry.explained && findings.present.length === entry.entered;
  if (!result.complete) result.no = [];
  return result;
}

// -- the case -----------------------------------------------------------------------------------------------

// The findings list just sent from this page (renderDecision's decision.sentFindings), else null.
let sentList = null;
// The entries of the FHIR bundle just sent from this page (renderDecision's decision.sentBundle), else null.
let sentEntries = null;

/** A finding's label as shown: the trace's own, but for a list item or bundle element not understood, whose words
 * the trace does not keep ("[words of findings[3] removed]", "[words of entry[3].resource removed]"): in the page
 * that just sent the list or bundle, its words. */
function shownLabel(label) {
  const found = /^\[words of (.+) removed\]$/.exec(String(label ?? ""));
  const entry = found ? sentEntryWords(found[1]) : null;
  const words = found ? (entry ? entry.words : sentItemWords(found[1], null, sentList)) : null;
  return words !== null && words !== undefined ? words : String(label ?? "");
}

/** The words a concept of a FHIR resource gives: its text, else its first coding's display; null when neither. */
function conceptWords(concept) {
  if (!concept || typeof concept !== "object") return null;
  if (typeof concept.text === "string" && concept.text.trim()) return concept.text.trim();
  const codings = Array.isArray(concept.coding) ? concept.coding : [];
  const coding = codings.find((c) => c && typeof c.display === "string" && c.display.trim());
  return coding ? coding.display.trim() : null;
}

/** For bundle element `path` ("entry[4].resource", "entry[3].resource.component[1]") of the bundle just sent from
 * this page: {type, words} (words null when it names nothing: an Encounter); null when the bundle was not sent from
 * here (a reopened trace, whose account keeps such words by path only) or has no such element. */
function sentEntryWords(path) {
  const found = /^entry\[(\d+)\]\.resource(?:\.component\[(\d+)\])?$/.exec(String(path ?? ""));
  if (!found || !Array.isArray(sentEntries)) return null;
  const entry = sentEntries[Number(found[1])];
  const resource = entry && typeof entry === "object" ? entry.resource : null;
  if (!resource || typeof resource !== "object") return null;
  const components = Array.isArray(resource.component) ? resource.component : [];
  const part = found[2] === undefined ? resource : components[Number(found[2])];
  if (!part || typeof part !== "object") return null;
  const words =
    conceptWords(part.code) ||
    conceptWords(part.medicationCodeableConcept) ||
    (Array.isArray(part.type) ? conceptWords(part.type[0]) : null);
  return { type: found[2] === undefined ? String(resource.resourceType ?? "") : "component", words };
}

function findingChip(f, extraClass = "", read = null) {
  // The words as entered, then the term they were read as when its name is other words ("ASD → Autism", "OFC
  // 42 cm (-3 SD) → Microcephaly"): an abbreviation or a value names its term only through the reading.
  const classes = ["chip", f.excluded ? "excluded" : "", read && read.past ? "historical" : "", extraClass];
  const attrs = { class: classes.filter(Boolean).join(" ") };
  if (read && read.fromValue) {
    attrs.title = "read from a stated value: a measurement, a milestone's age, an IQ or a lab flag";
  }
  const named = read && read.name && read.name.toLowerCase() !== f.label.toLowerCase() ? read.name : null;
  return h(
    "li",
    attrs,
    f.excluded ? h("span", { class: "chip-flag" }, "absent: ") : null,
    !f.excluded && read && read.past ? h("span", { class: "chip-flag" }, "past: ") : null,
    shownLabel(f.label),
    named ? ` → ${named}` : null,
    " ",
    f.hpoId ? codeLink(f.hpoId) : h("span", { class: "code" }, "(no HPO term)"),
  );
}

/** HPO id -> how the intake read it: the term's name, read from a stated value (`from_value`), and past (every
 * mention of it historical: "history of febrile seizures, resolved"). */
function readings(account) {
  const read = new Map();
  for (const m of (account && Array.isArray(account.mapped) && account.mapped) || []) {
    if (typeof m.hpo_id !== "string" || (m.kind && m.kind !== "finding")) continue;
    const seen = read.get(m.hpo_id) || { name: String(m.label ?? m.hpo_id), fromValue: false, past: true };
    seen.fromValue = seen.fromValue || Boolean(m.from_value);
    seen.past = seen.past && m.assertion === "historical";
    read.set(m.hpo_id, seen);
  }
  return read;
}

function renderFindings(trace, decision) {
  const { all } = caseFindings(trace);
  const section = h("section", { class: "findings", "aria-labelledby": "findings-heading" });
  append(section, h("h3", { id: "findings-heading" }, "Findings as understood"));
  if (!all.length) {
    append(section, h("p", {}, "No findings were recognised in the input."));
    append(section, renderReadNotFindings(trace && trace.input_account, decision.noteText, decision.sentFindings));
    append(section, renderNotUnderstood(trace && trace.input_account, decision.noteText, decision.sentFindings));
    return section;
  }
  const read = readings(trace.input_account);
  append(section, h("ul", { class: "chips" }, all.map((f) => findingChip(f, "", read.get(f.hpoId)))));
  append(section, renderReadNotFindings(trace.input_account, decision.noteText, decision.sentFindings));
  append(section, renderNotUnderstood(trace.input_account, decision.noteText, decision.sentFindings));
  const c = trace.case;
  const about = [];
  if (c.sex && c.sex !== "unknown") about.push(`sex: ${c.sex}`);
  if (c.age) about.push(`age: ${ageText(String(c.age))}`);
  if (about.length) append(section, h("p", { class: "meta" }, about.join(" · ")));
  if (c.pseudonym) {
    // A patient pseudonym only when the input named the patient (a patient id, a bundle's Patient): the same
    // patient then keeps one pseudonym. Otherwise the pseudonym is of this request and identifies nobody.
    // (identified: true, false, or not known to the caller.)
    const [label, note] =
      decision.identified === true
        ? ["patient pseudonym: ", " (the same patient id always gives this pseudonym; the id itself is not kept)"]
        : decision.identified === false
          ? ["case pseudonym: ", " (no patient id given: this pseudonym is of this request only)"]
          : ["pseudonym: ", null];
    append(section, h("p", { class: "meta pseudonym" }, label, h("code", {}, String(c.pseudonym)), note));
  }
  return section;
}

/** How the account says what a mapped item is, when it is not a finding of the patient. */
const READ_AS = {
  uncertain: "possible: ",
  family_history: "a relative's: ",
  inheritance: "inheritance: ",
  onset: "onset: ",
};

/** The account's reason for words that name no HPO term (dxsearch/intake/account.py NO_TERM): "not understood". */
export const NO_TERM = "no HPO term matches these words";

/**
 * What kind of entry an account item is: its `category` (dxsearch/intake/account.py EntryCategory), which the
 * viewer sorts and flags by, never by the reason's words (a reworded reason moved an item to the wrong heading).
 * A decision audited before entries carried a category has none; reopened, its kind is read from its reason as
 * the intake wrote it then (LEGACY_CATEGORIES), so an old trace shows as it did.
 */
export function entryCategory(item) {
  if (item && typeof item.category === "string") return item.category;
  const reason = String((item && item.reason) ?? "").replace(/^contained\[\d+\]: /, "");
  const found = LEGACY_CATEGORIES.find(([pattern]) => pattern.test(reason));
  return found ? found[1] : "not_understood";
}

/**
 * For stored traces without categories only: [pattern of the reason as the intake then wrote it, category]; the
 * first that matches wins. Frozen: a new kind of entry is a new category of the account, never a pattern here.
 */
export const LEGACY_CATEGORIES = [
  [/^a Condition names a ruled-out diagnosis/, "ruled_out_diagnosis"],
  [/^a Condition names a possible diagnosis/, "possible_diagnosis"],
  [/^a Condition names a diagnosis/, "diagnosis"],
  [/^repeats the finding of /, "repeat"],
  [/^says .* is absent: contradicts /, "contradicted"],
  [/^an age Observation: read as /, "age_source"],
  [/^Patient\.deceasedDateTime: the age is the age at death/, "age_source"],
  [/^Patient\.birthDate gives only a (?:year|month) /, "age_source"],
  [/^said of a relative, who does not have it/, "denied_of_a_relative"],
  [/^said of a relative/, "of_a_relative"],
];

/**
 * Entries read and kept out of the findings, by category -> [flag, class]. A bundle Condition that names a
 * diagnosis, not a phenotype (ruled out, possible, on record), was understood, so it is shown as what the record
 * says it is (a refuted aortic dissection, a provisional Marfan syndrome), never as "not understood"; a repeat of a
 * finding and the side of a contradiction not kept were shown as "not used", as if not understood (user test 3).
 * The command line names them alike (dxsearch/cli.py _ALSO_READ).
 */
export const CATEGORY_READINGS = {
  ruled_out_diagnosis: ["ruled out: ", "ruled-out"],
  possible_diagnosis: ["possible diagnosis: ", "possible-diagnosis"],
  diagnosis: ["diagnosis on record: ", "diagnosis-on-record"],
  repeat: ["counted once: ", "repeat"],
  contradicted: ["contradicted, present kept: ", "contradicted"],
  age_source: ["where the age came from: ", "age-source"],
};

/** {flag, cls} when the account's item is a Condition naming a diagnosis or another statement read and kept out of
 * the findings (CATEGORY_READINGS, by its category), else null. */
export function diagnosisReading(item) {
  const category = entryCategory(item);
  if (!Object.hasOwn(CATEGORY_READINGS, category)) return null;
  const [flag, cls] = CATEGORY_READINGS[category];
  return { flag, cls };
}

/** Entries said of a relative: the chip's flag says all of it. */
const OF_A_RELATIVE = new Set(["of_a_relative", "denied_of_a_relative"]);

/** Why an item was kept out, as a muted second line of its chip (visible, not only a hover title: screenshots and
 * touch screens show no title). Left out where the chip's flag already says all of it: words naming no term ("not
 * understood"), words said of a relative. */
export function reasonLine(item) {
  const reason = String((item && item.reason) ?? "").trim();
  if (!reason || reason === NO_TERM || OF_A_RELATIVE.has(entryCategory(item))) return null;
  return h("span", { class: "chip-reason" }, reason);
}

/** A chip for an account item that is kept out of the findings: its flag, where it was, and why (reasonLine). */
function keptOutChip(item, flag, cls, place) {
  const why = reasonLine(item);
  return h(
    "li",
    { class: `chip ${cls}${why ? " has-reason" : ""}`, title: String(item.reason ?? "") },
    h("span", { class: "chip-flag" }, flag),
    place,
    why,
  );
}

/** What was read but is no finding of the patient: a possibility ("rule out microcephaly", a provisional
 * Condition), a relative's finding, the mode of inheritance or the onset the words state, a Condition naming a
 * diagnosis (ruled out, possible, or on record), a repeat and a contradicted statement. Shown, so that nothing the clinician entered disappears between
 * the input and the chips. */
function renderReadNotFindings(account, note = null, sentFindings = null) {
  const seen = new Set();
  const chips = [];
  for (const m of (account && Array.isArray(account.mapped) && account.mapped) || []) {
    const kind = m.kind === "finding" ? m.assertion : m.kind;
    const flag = READ_AS[kind];
    if (!flag || (m.kind !== "finding" && !["present", "historical"].includes(m.assertion))) continue;
    const key = `${kind} ${m.hpo_id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    chips.push(
      h(
        "li",
        { class: `chip read-as ${kind}` },
        h("span", { class: "chip-flag" }, flag),
        String(m.label ?? m.hpo_id),
        " ",
        typeof m.hpo_id === "string" ? codeLink(m.hpo_id) : null,
      ),
    );
  }
  for (const item of (account && Array.isArray(account.not_understood) && account.not_understood) || []) {
    const reading = diagnosisReading(item);
    if (reading) {
      const place = inputPlace(item, typeof note === "string" ? Array.from(note) : null, sentFindings);
      chips.push(keptOutChip(item, reading.flag, `read-as ${reading.cls}`, place));
    }
  }
  if (!chips.length) return null;
  return [h("p", { class: "meta" }, "Also read, not findings of the patient:"), h("ul", { class: "chips" }, chips)];
}

/** The words of item `path` ("findings[3]") of a findings list just sent from this page, within `span`; null when
 * the list was not sent from here (a reopened trace) or has no such item. */
function sentItemWords(path, span, sentFindings) {
  const found = /^findings\[(\d+)\]$/.exec(String(path ?? ""));
  if (!found || !Array.isArray(sentFindings)) return null;
  const item = sentFindings[Number(found[1])];
  const label = typeof item === "string" ? item : item && typeof item.label === "string" ? item.label : null;
  if (label === null) return null;
  // Spans count characters (code points), as the server does.
  return span ? Array.from(label).slice(span[0], span[1]).join("") : label;
}

/** Where an input item was: the words given (understood findings, bundle); in a note, findings list or bundle just
 * sent from this page, its words (the trace keeps only the characters' positions of a note, and the path of a list
 * item or bundle element not understood: any may be PHI); else the item and its characters. */
function inputPlace(item, noteText = null, sentFindings = null) {
  if (typeof item.given === "string") return item.given;
  const span = Array.isArray(item.span) ? item.span : null;
  if (span && item.path === "text" && Array.isArray(noteText)) {
    // Spans count characters (code points), as the server does; noteText is the note's code points.
    return `“${noteText.slice(span[0], span[1]).join("")}”`;
  }
  const sent = sentItemWords(item.path, span, sentFindings);
  if (sent !== null) return `“${sent}”`;
  const entry = sentEntryWords(item.path);
  if (entry) return `${entry.words ? `“${entry.words}”` : entry.type || "entry"} (${item.path})`;
  return span ? `${String(item.path ?? "input")}, characters ${span[0]}–${span[1]}` : String(item.path ?? "input");
}

/** What a chip of the not-understood list says first: a relative's words are understood, only not the patient's
 * (the entry's category says which); words were not understood, and maybe searched by their words; a whole entry of
 * a bundle the reader set aside (no words of it kept: a normal lab result, a MedicationStatement, an Encounter) was
 * not used, for the reason the chip's second line gives. */
export function notUnderstoodFlag(item) {
  const category = entryCategory(item);
  if (category === "denied_of_a_relative") return "said of the family, who do not have it — not used: ";
  if (category === "of_a_relative") return "a relative's, not the patient's — not used: ";
  if (item.words_searched) return "not understood — searched by its words only: ";
  // Words naming no term (an unknown HPO id's reason ends so too), given or kept by position only: not understood.
  if (String(item.reason ?? "").endsWith(NO_TERM)) return "not understood — not used: ";
  if (typeof item.given !== "string" && !Array.isArray(item.span)) return "not used: ";
  return "not understood — not used: ";
}

/**
 * How many HPO terms were read, counted as the chips show them: distinct terms, one chip each. Two mentions of one
 * term ("head growth has slowed", "acquired microcephaly": Secondary microcephaly) are one term, and the count
 * says how many mentions there were. Why: the line said "9 HPO term(s) read" above 8 chips.
 */
export function termsReadText(mappedEntries, inputItems) {
  const mentions = mappedEntries.filter((m) => m && typeof m.hpo_id === "string");
  const terms = new Set(mentions.map((m) => m.hpo_id)).size;
  const repeated =
    mentions.length > terms ? ` (${mentions.length} mentions: a term mentioned more than once is one chip)` : "";
  return `${terms} distinct HPO term${terms === 1 ? "" : "s"} read${repeated} from ${inputItems} input item(s)`;
}

/** The input items the intake did not use: shown, never dropped, each with why ("not understood — not used", "searched
 * by its words only" where the case keeps the words for retrieval without an HPO term, "not used" for a bundle entry
 * set aside). A Condition naming a diagnosis is shown with what was read instead (renderReadNotFindings). */
function renderNotUnderstood(account, note = null, sentFindings = null) {
  const all = (account && Array.isArray(account.not_understood) && account.not_understood) || [];
  const items = all.filter((item) => !diagnosisReading(item));
  if (!items.length) return null;
  const noteText = typeof note === "string" ? Array.from(note) : null; // once: a 100,000-character note is common
  const list = h(
    "ul",
    { class: "chips" },
    items.map((item) => keptOutChip(item, notUnderstoodFlag(item), "not-understood", inputPlace(item, noteText, sentFindings))),
  );
  const mappedEntries = Array.isArray(account.mapped) ? account.mapped : [];
  // One input item may hold several terms ("Low-set, posteriorly rotated ears"): count both, each as what it is.
  const inputItems = new Set([...mappedEntries, ...all].map((e) => String(e.path ?? ""))).size;
  return [
    h(
      "p",
      { class: "meta terms-read" },
      `${termsReadText(mappedEntries, inputItems)}; ${items.length} part(s) not understood or not used, each with why:`,
    ),
    list,
  ];
}

// -- one diagnosis ------------------------------------------------------------------------------------------

/** What a passage's search score and rank are (the evidence table's last column, the reasoning's passages). */
const SCORE_MEANING =
  "Search score, rank: how closely the passage matched the search that retrieved it, on that search's own scale " +
  "(higher is closer; comparable only within one search, and not a probability), and its place among that " +
  "search's results (rank 1 came first). They say why a passage was read, not how likely the diagnosis is.";

/** The searches of the trace's retrievals, in words (`retriever` of each retrieved passage). */
const RETRIEVER_LABELS = {
  phenotype: "similar patients, by phenotype similarity",
  hybrid: "words and meaning (rank fusion)",
  lexical: "words (BM25)",
  dense: "meaning (embeddings)",
};

export function retrieverLabel(retriever) {
  const name = String(retriever ?? "");
  return RETRIEVER_LABELS[name] ? `${name}: ${RETRIEVER_LABELS[name]}` : name || "search not recorded";
}

/** Evidence id -> the retriever that first found it, from the trace's retrievals. */
function retrieversOf(trace) {
  const found = new Map();
  for (const r of Array.isArray(trace && trace.retrievals) ? trace.retrievals : []) {
    const id = String(r.evidence_id ?? "");
    if (id && r.retriever && !found.has(id)) found.set(id, String(r.retriever));
  }
  return found;
}

function renderEvidenceTable(diagnosis, findings, retrievers = new Map()) {
  if (!diagnosis.evidence.length) {
    return h("p", { class: "no-evidence" }, "No retrieved passage is cited for this diagnosis.");
  }
  const entered = findings.present.length;
  const table = h("table", { class: "evidence" });
  append(
    table,
    h("caption", {}, `Evidence chain for ${diagnosis.name}`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Evidence id", "Document", "Kind", `Findings it names (of ${entered} entered)`, "Search score, rank"].map((label) =>
          h("th", { scope: "col" }, label),
        ),
      ),
    ),
  );
  const body = h("tbody");
  for (const e of diagnosis.evidence) {
    const claim = { name: diagnosis.name, code: diagnosis.code, supports: e.supports };
    append(
      body,
      h(
        "tr",
        {},
        h("td", {}, evidenceButton(e.evidenceId, claim)),
        h(
          "td",
          {},
          h("span", { class: "doc-title" }, e.title),
          e.section ? h("span", { class: "meta" }, ` § ${e.section}`) : null,
          e.mentionsDiagnosis ? h("span", { class: "badge" }, "names the diagnosis") : null,
        ),
        h("td", {}, kindLabel(e.kind)),
        h(
          "td",
          { class: "supports-cell" },
          h("span", { class: "coverage" }, `${e.supports.length}/${entered}`),
          e.supports.length
            ? h(
                "ul",
                { class: "supports" },
                e.supports.map((s) => h("li", {}, s)),
              )
            : h("span", { class: "meta" }, " none of the case's findings"),
        ),
        h(
          "td",
          { class: "num" },
          `score ${fixed(e.score)}`,
          h("br"),
          `rank ${e.rank ?? "–"}`,
          retrievers.has(e.evidenceId) ? [h("br"), h("span", { class: "meta" }, retrieverLabel(retrievers.get(e.evidenceId)))] : null,
        ),
      ),
    );
  }
  append(table, body);
  return [
    h("p", { class: "scroll-hint" }, "Scroll the table sideways for every column →"),
    h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Evidence chain for ${diagnosis.name}` }, table),
    h("p", { class: "meta score-meaning" }, SCORE_MEANING),
  ];
}

/** "explains 3/4" for the summary line (the trace's explanation first, else the reasoning's), or null. */
function coverageText(explained, d) {
  const e = d && d.explanation;
  if (e) {
    const supports = Array.isArray(e.supports) ? e.supports.length : 0;
    return `explains ${e.annotated ? supports : 0}/${Number(e.entered ?? 0)} findings`;
  }
  return explained ? `explains ${explained.explained}/${explained.entered} findings` : null;
}

function renderCoverage(d, explained, findings) {
  const box = h("div", { class: "coverage-box" });
  if (!explained) {
    append(
      box,
      h(
        "p",
        { class: "meta" },
        "The reasoning does not say which of the findings this diagnosis explains; the evidence chain below " +
          "shows which findings each cited passage names.",
      ),
    );
    return box;
  }
  const absent = findings.absent.length;
  append(
    box,
    h(
      "h4",
      {},
      `Explains ${explained.explained} of the ${explained.entered} findings entered`,
      absent ? h("span", { class: "meta" }, ` (${absent} absent finding${absent === 1 ? "" : "s"} not counted)`) : null,
    ),
  );
  if (explained.complete) {
    append(
      box,
      h("p", { class: "coverage-label" }, "Explained:"),
      explained.yes.length
        ? h("ul", { class: "chips explains" }, explained.yes.map((f) => findingChip(f, "explained")))
        : h("p", { class: "meta" }, "none"),
      h("p", { class: "coverage-label" }, "Not explained:"),
      explained.no.length
        ? h("ul", { class: "chips not-explained" }, explained.no.map((f) => findingChip(f, "unexplained")))
        : h("p", { class: "meta" }, "none: every finding entered is explained"),
    );
  } else {
    append(
      box,
      h(
        "p",
        { class: "meta" },
        `The reasoning counts ${explained.explained} explained and ${explained.entered - explained.explained} not ` +
          "explained, but does not name them all.",
      ),
    );
  }
  append(
    box,
    h(
      "p",
      { class: "meta" },
      `From reasoning turn ${explained.turn + 1}: a finding is explained when the disease is annotated with it ` +
        "(or with a more specific term); findings without an HPO term count as not explained.",
    ),
  );
  return box;
}

/**
 * The explanation the trace carries per diagnosis (`explanation`: likelihood ratios of each finding over the
 * index's disease knowledge): what it explains, what it does not, and what speaks against it (a finding
 * reported absent that the disease usually has, with its frequency), then the sex, inheritance and onset (or
 * age) as they bear on it, each with its likelihood ratio. Older traces without it fall back to the
 * reasoning's "explains n/m" line. `patient` is the trace's case (what it gave of sex, age, onset, inheritance).
 */
export function explanationDetail(d, patient = null) {
  const e = d.explanation;
  if (!e) return null;
  const box = h("div", { class: "coverage-box explanation-detail", dataset: { slot: "explanation" } });
  const entered = Number(e.entered ?? 0);
  const supports = Array.isArray(e.supports) ? e.supports : [];
  const notExplained = Array.isArray(e.not_explained) ? e.not_explained : [];
  const against = Array.isArray(e.contradicts) ? e.contradicts : [];
  const factors = (Array.isArray(e.factors) ? e.factors : []).filter((f) => f && typeof f === "object");
  if (!e.annotated) {
    append(
      box,
      h("h4", {}, `Explains 0 of the ${entered} findings entered`),
      h("p", { class: "meta" }, "This index's disease knowledge has no phenotype annotation for this diagnosis."),
    );
    return box;
  }
  const percent = (value) => (value === null || value === undefined ? null : `${Math.round(Number(value) * 100)}%`);
  const hasRatio = (role) => typeof role.likelihood_ratio === "number" && Number.isFinite(role.likelihood_ratio);
  // The findings entered with a ratio of their own: a finding without one (a null likelihood_ratio: "implied") is
  // counted through one of these, more specific, whose ratio covers both; named where the explanation shows it
  // (the finding met the disease's annotation as this very term, so it is a kind of it).
  const rated = [...supports, ...notExplained].filter(hasRatio);
  const through = (role) =>
    rated
      .filter((r) => role.hpo_id && r.hpo_id !== role.hpo_id && r.matched_id === role.hpo_id)
      .map((r) => shownLabel(r.label));
  const countedThrough = (role, explained) => {
    if (!explained) {
      // Not explained: the more specific finding is not one this disease explains either (or the term is one the
      // ratios do not use: both have no ratio of their own).
      const why = "no LR of its own: counted through a more specific finding entered, or a term the ratios do not use";
      return h("span", { class: "meta counted-through" }, ` · ${why}`);
    }
    const named = through(role);
    const which = named.length
      ? `${named.join(", ")}, ${named.length === 1 ? "a more specific finding" : "more specific findings"} entered`
      : "a more specific finding entered";
    let why = `no LR of its own: counted through ${which}, whose ${named.length > 1 ? "ratios cover" : "ratio covers"} it`;
    if (role.frequency === null) why += " (and which this disease explains)";
    return h("span", { class: "meta counted-through" }, ` · ${why}`);
  };
  const roleChip = (role, cls, absent = false) => {
    const frequency = percent(role.frequency);
    const lr = hasRatio(role) ? lrText(role.likelihood_ratio) : null;
    const implied = !lr && Boolean(role.hpo_id) && cls !== "contradicts";
    const matched =
      role.matched_id && role.matched_id !== role.hpo_id ? [" as ", String(role.matched_name ?? role.matched_id), " ", codeLink(String(role.matched_id))] : [];
    return h(
      "li",
      { class: `chip ${cls}${implied ? " implied" : ""}`, title: lr ? `likelihood ratio ${lr}` : "" },
      absent ? h("span", { class: "chip-flag" }, "absent: ") : null,
      shownLabel(role.label),
      " ",
      role.hpo_id ? codeLink(String(role.hpo_id)) : h("span", { class: "code" }, "(not understood)"),
      ...matched,
      // A finding counted through a more specific one: the disease has it or a kind of it, at this frequency.
      frequency
        ? h("span", { class: "meta" }, ` · in ${frequency} of patients${implied ? " (it or a kind of it)" : ""}`)
        : null,
      lr ? h("span", { class: "lr", dataset: { lr: String(role.likelihood_ratio) } }, ` · LR ${lr}`) : null,
      implied ? countedThrough(role, cls === "explained") : null,
    );
  };
  const total = typeof e.log10_likelihood_ratio === "number" ? e.log10_likelihood_ratio : null;
  append(
    box,
    h("h4", {}, `Explains ${supports.length} of the ${entered} findings entered`),
    h(
      "p",
      { class: "coverage-label" },
      "Explained (annotated for this disease, and commoner in it than in others: LR above 1; or, with no LR of its " +
        "own, counted through a more specific finding entered):",
    ),
    supports.length ? h("ul", { class: "chips explains" }, supports.map((r) => roleChip(r, "explained"))) : h("p", { class: "meta" }, "none"),
    h(
      "p",
      { class: "coverage-label" },
      "Not explained (not annotated for it, only a related finding is, or no commoner in it than in others: LR 1 or below):",
    ),
    notExplained.length
      ? h("ul", { class: "chips not-explained" }, notExplained.map((r) => roleChip(r, "unexplained")))
      : h("p", { class: "meta" }, "none: every finding entered is explained"),
    h("p", { class: "coverage-label" }, "Speaks against it:"),
    against.length
      ? h("ul", { class: "chips contradicts" }, against.map((r) => roleChip(r, "contradicts", r.frequency !== null && r.frequency > 0)))
      : h("p", { class: "meta" }, "nothing: no finding reported absent is a feature of this disease"),
    h("p", { class: "coverage-label" }, "Sex, inheritance, onset or age:"),
    factors.length
      ? h("ul", { class: "chips factors" }, factors.map(factorChip))
      : h("p", { class: "meta" }, noFactorsText(patient)),
    total === null ? null : totalLine(total, { supports, notExplained, against, factors }),
    h(
      "p",
      { class: "meta lr-meaning" },
      "Likelihood ratio (LR): how many times more often patients with this disease show a finding than patients with " +
        "other diseases, in this index's disease annotations (HPO's phenotype.hpoa rows); above 1 favours the " +
        "diagnosis, below 1 weighs against it. Frequency = share of the annotated patients with the feature, so a " +
        "disease card's own range, e.g. Orphanet's 80-99%, may differ. A finding more general than another one entered " +
        "(long fingers beside arachnodactyly) has no LR of its own: the more specific one's counts for both, so " +
        "nothing is counted twice. A finding not understood counts as not explained. The age counts only when no " +
        "onset is stated; a factor whose ratio is exactly 1 says nothing and is not listed. These ratios are " +
        "computed from the trace's case beside the ranking, whatever policy answered: the probability above is the " +
        "policy's.",
    ),
  );
  return box;
}

/**
 * The product of the ratios, and what it multiplies: the ratios listed (the findings with one of their own, the
 * absent findings and the factors), said with how many findings have none of their own, so that the product and
 * "explains n/m" are read as counting different things; and the part the trace's sum holds beyond the ratios listed
 * (the disease's frequent features no finding entered touches, absent findings that do not weigh against it), as
 * a factor, so that the ratios on screen multiply to the total shown.
 */
function totalLine(total, { supports, notExplained, against, factors }) {
  const ratios = (roles) => roles.map((r) => r.likelihood_ratio).filter((v) => typeof v === "number" && Number.isFinite(v));
  const plural = (n, one, many) => (n === 1 ? one : many);
  const present = [...supports, ...notExplained];
  const own = ratios(present).length;
  const without = present.filter((r) => r.hpo_id && ratios([r]).length === 0).length;
  const listed = [...ratios(present), ...ratios(against), ...ratios(factors)];
  const parts = [`the ${own} finding${plural(own, "", "s")} entered with a ratio of ${plural(own, "its", "their")} own`];
  if (ratios(against).length) parts.push(`the ${ratios(against).length} under “speaks against it”`);
  if (ratios(factors).length) parts.push(`the ${ratios(factors).length} factor${plural(ratios(factors).length, "", "s")}`);
  const list = parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
  const covers =
    `It multiplies the ratios shown above, those of ${list}` +
    (without
      ? ` (the ${without} finding${plural(without, "", "s")} without one ${plural(without, "is", "are")} counted ` +
        "through a more specific one)"
      : "");
  // What the sum holds beyond the ratios listed; only where every ratio is positive (a log of each is meaningful)
  // and the gap is more than the rounding of the ratios shown (3 decimals).
  const rest = listed.every((v) => v > 0) ? total - listed.reduce((sum, v) => sum + Math.log10(v), 0) : 0;
  return h(
    "p",
    { class: "lr-total" },
    `All of it together (the ratios multiplied, as the trace sums them): likelihood ratio ${totalText(total)}. `,
    h("span", { class: "lr-covers" }, covers),
    Math.abs(rest) >= 0.02
      ? h(
          "span",
          { class: "lr-rest", dataset: { log10: rest.toFixed(3) } },
          `, and ×${lrText(10 ** rest)} for evidence not listed here: the disease's frequent features that none of ` +
            "the findings entered touches (each lowers it a little), and findings reported absent that do not weigh " +
            "against it",
        )
      : null,
    ".",
  );
}

/**
 * An ISO 8601 age as a clinician reads it, with the code kept beside it: "P14Y" -> "14 years (P14Y)", "P1D" ->
 * "1 day (P1D)", "P3Y4M" -> "3 years 4 months (P3Y4M)". A user test read the bare "age: P1D" as unclinical. A value
 * that is not such an age is shown as given.
 */
export function ageText(iso) {
  const match = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$/.exec(iso);
  if (!match || iso === "P") return iso;
  const units = ["year", "month", "week", "day"];
  const parts = match
    .slice(1)
    .map((n, i) => (n === undefined ? null : `${Number(n)} ${units[i]}${Number(n) === 1 ? "" : "s"}`))
    .filter(Boolean);
  return `${parts.join(" ")} (${iso})`;
}

/** A likelihood ratio short enough for a chip: 611, 72.6, 0.78, 0.05. */
export function lrText(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  if (n >= 100) return String(Math.round(n));
  if (n >= 10) return n.toFixed(1);
  return n >= 0.01 ? n.toFixed(2) : n.toPrecision(1);
}

/** A total log10 likelihood ratio as a ratio: "about 1,600 (10^3.2)", "about 1 in 40 (10^-1.6)". */
export function totalText(log10) {
  const power = `10^${log10.toFixed(1)}`;
  if (Math.abs(log10) > 6) {
    // The largest named power of ten it passes: "10^10.2 (over ten billion)", never "over a million" for it.
    const names = [[12, "a trillion"], [11, "a hundred billion"], [10, "ten billion"], [9, "a billion"],
      [8, "a hundred million"], [7, "ten million"], [6, "a million"]];
    const [, name] = names.find(([at]) => Math.abs(log10) >= at) || names[names.length - 1];
    return `${power} (${log10 > 0 ? `over ${name}` : `under one in ${name}`})`;
  }
  const ratio = 10 ** log10;
  const about = (n) => Number(n.toPrecision(2)).toLocaleString("en-GB");
  return ratio >= 1 ? `about ${about(ratio)} (${power})` : `about 1 in ${about(1 / ratio)} (${power})`;
}

/** A likelihood ratio as `dxsearch diagnose` prints it (Python's "{:g}": 1.025, 0.05, 1). */
export function ratioText(value) {
  const n = Number(value);
  return Number.isFinite(n) ? String(Number(n.toPrecision(6))) : "–";
}

/**
 * One factor, e.g. "sex female: speaks against it, likelihood ratio 0.05" or "stated Infantile onset: fits (the
 * disease's onset: infantile onset), likelihood ratio 3.25", in the words of `dxsearch diagnose --explain`
 * (cli._explanation_lines). The age is said from the disease's side, "the disease's onset: congenital — fits an age
 * of 45 y, likelihood ratio 1.004": the patient's age bounds the onset from above (the disease began by then), and
 * "age 45 y: fits (congenital onset)" read as if a 45-year-old were congenital. A named HPO term is followed by its
 * code as a link (in a .factor-code span), as a finding's chip is.
 */
function factorChip(f) {
  const value = String(f.value ?? "");
  const name = f.name ? String(f.name) : null;
  const code = (id) => (id ? h("span", { class: "factor-code" }, " ", codeLink(String(id))) : null);
  const ratio = `, likelihood ratio ${ratioText(f.likelihood_ratio)}`;
  const attrs = {
    class: `chip factor ${f.fits ? "factor-fits" : "factor-against"}`,
    dataset: { evidence: String(f.evidence ?? "") },
  };
  if (f.evidence === "age") {
    const age = value.replace(/^age /, ""); // "45 y"
    if (f.fits && f.matched_name) {
      // "Congenital onset" -> "congenital"; a name that is only "Onset" stays whole.
      const onset = String(f.matched_name).toLowerCase().replace(/(.) onset$/, "$1");
      return h("li", attrs, "the disease's onset: ", onset, code(f.matched_id), ` — fits an age of ${age}`, ratio);
    }
    return h(
      "li",
      attrs,
      `age ${age}: `,
      f.fits ? "fits the disease's onset" : "younger than any onset of the disease — speaks against it",
      ratio,
    );
  }
  // Inheritance and a stated onset are HPO terms: their name, else the code itself (as a link).
  const term = () => (name ? [name, code(value)] : codeLink(value));
  let given = value;
  if (f.evidence === "sex") given = `sex ${value}`;
  else if (f.evidence === "onset") given = ["stated ", term()];
  else if (f.evidence === "inheritance") given = term();
  const verdict = f.fits
    ? ["fits", f.matched_name ? [" (the disease's onset: ", String(f.matched_name).toLowerCase(), code(f.matched_id), ")"] : null]
    : "speaks against it";
  return h("li", attrs, given, ": ", verdict, ratio);
}

/** What to say when no factor is listed: what the case gave says nothing either way, or the case gave none. */
function noFactorsText(patient) {
  const c = patient || {};
  const given = [
    c.sex && c.sex !== "unknown" ? "sex" : null,
    Array.isArray(c.inheritance) && c.inheritance.length ? "inheritance" : null,
    c.onset ? "onset" : null,
    c.age ? "age" : null,
  ].filter(Boolean);
  if (!given.length) return "none given: the case states no sex, inheritance, onset or age";
  const listed = given.length === 1 ? given[0] : `${given.slice(0, -1).join(", ")} and ${given[given.length - 1]}`;
  return `nothing either way: the ${listed} given neither fit nor speak against this disease in this index's knowledge`;
}

function renderDiseaseFacts(d) {
  const facts = h("dl", { class: "disease-facts", "aria-live": "polite" });
  append(facts, h("dt", {}, "Genes, inheritance"), h("dd", { class: "meta" }, "loading from the disease card…"));
  return facts;
}

/**
 * A probability as a natural frequency, always in a hundred so that it says what the two-decimal figure beside it
 * says ("0.06": "about 6 in 100", "0.72": "about 72 in 100") and never rounds a small probability to a
 * tenth ("1 in 10" for 0.058 was near twice the figure). Below half a percent (shown "under 0.01",
 * probabilityFigure), "fewer than 1 in 100"; shown "over 0.99", "more than 99 in 100".
 */
export function frequencyText(probability) {
  // From the figure as shown (toFixed), so that 0.145 shown as "0.14" is "about 14 in 100", never 15.
  const inHundred = Math.round(Number(Number(probability).toFixed(2)) * 100);
  if (inHundred < 1) return "fewer than 1 in 100";
  if (inHundred >= 100) return "more than 99 in 100";
  return `about ${inHundred} in 100`;
}

/**
 * What the policy's reasoning says its probabilities are: "calibrated" or "first-choice" (the learned policy's
 * header, "p = calibrated probability"), else null. Read from the trace, so a reopened decision says the same.
 */
export function probabilityKind(trace) {
  const turns = Array.isArray(trace && trace.turns) ? trace.turns : [];
  for (const turn of turns) {
    if (turn.action !== "reason" || typeof turn.text !== "string") continue;
    const found = /\bp = (calibrated|first-choice) probability\b/.exec(turn.text);
    if (found) return found[1];
  }
  return null;
}

/**
 * What a probability means, in words a clinician can check. The evidence policy's are calibrated on published cases
 * the system did not learn from (API: DiagnosisOut.confidence); a policy whose reasoning states its probabilities are
 * calibrated (`kind`, from probabilityKind) gets the same reading, with the note that the response does not say
 * what it was fitted on; for any other the viewer claims no calibration it was not told about.
 */
export function probabilityText(confidence, modelVersion, kind = null) {
  if (confidence === null) return "The policy gave no probability for this diagnosis.";
  const p = probabilityFigure(confidence);
  const rest = "The probabilities of one differential sum to at most 1; the rest is “none of these”.";
  if (String(modelVersion ?? "").startsWith("evidence@")) {
    return (
      `Probability ${p} that this diagnosis is the right one, calibrated on published cases the system did not ` +
      `learn from: of diagnoses given about this probability there, ${frequencyText(confidence)} were right. ${rest}`
    );
  }
  if (kind === "calibrated") {
    return (
      `Probability ${p} that this diagnosis is the right one: a calibrated probability (the policy's reasoning says ` +
      `so: “p = calibrated probability”), so of diagnoses given about this probability on the cases it was fitted ` +
      `on, ${frequencyText(confidence)} were right; this response does not say which cases those were ` +
      `(model ${modelVersion ?? "not recorded"}). ${rest}`
    );
  }
  if (kind === "first-choice") {
    return (
      `Probability ${p}, the model's own share for this diagnosis among its candidates (its reasoning says “p = ` +
      `first-choice probability”): not calibrated, so not how often such answers are right.`
    );
  }
  return (
    `Probability ${p}, as given by the model ${modelVersion ?? "(not recorded)"}; the trace does not say that it is ` +
    "calibrated, so it need not be how often such answers are right."
  );
}

function renderDiagnosis(d, { coverage, findings, factsTargets, modelVersion, patient, kind, retrievers }) {
  const confidence = typeof d.confidence === "number" ? d.confidence : null;
  const explained = explainedFindings(d, coverage, findings);
  const summaryFacts = h("span", { class: "dx-facts meta" });
  const summary = h(
    "summary",
    {},
    h(
      "span",
      { class: "dx-row" },
      h(
        "span",
        { class: "dx-label" },
        h("span", { class: "rank" }, `${d.rank}.`),
        " ",
        h("span", { class: "dx-name" }, d.name),
        d.code ? [" ", codeLink(d.code)] : null,
        d.alternateCodes.length
          ? h(
              "span",
              { class: "meta alternate-codes", title: "The same disease under other codes: one entry, not two" },
              " also ",
              d.alternateCodes.map((c, i) => [i ? ", " : "", codeLink(c)]),
            )
          : null,
        h(
          "span",
          { class: "meta" },
          [coverageText(explained, d), `${d.evidence.length} passage${d.evidence.length === 1 ? "" : "s"}`]
            .filter(Boolean)
            .map((part) => ` · ${part}`)
            .join(""),
        ),
        summaryFacts,
      ),
      h(
        "span",
        {
          class: "confidence",
          title: probabilityText(confidence, modelVersion, kind),
        },
        confidence === null
          ? "probability –"
          : [
              h("meter", { min: 0, max: 1, value: Math.max(0, Math.min(1, confidence)), "aria-hidden": "true" }),
              ` probability ${probabilityFigure(confidence)}`,
            ],
      ),
    ),
  );
  const facts = renderDiseaseFacts(d);
  factsTargets.push({ diagnosis: d, facts, summaryFacts });
  const card = h(
    "section",
    { class: "explanation", "aria-label": `Why ${d.name}` },
    h("p", { class: "probability-meaning" }, probabilityText(confidence, modelVersion, kind)),
    // The trace's explanation, when it carries one, is the one account of coverage; else the reasoning's.
    d.explanation ? explanationDetail(d, patient) : renderCoverage(d, explained, findings),
    facts,
  );
  const details = h(
    "details",
    { class: "diagnosis", dataset: { rank: String(d.rank) } },
    summary,
    card,
    renderEvidenceTable(d, findings, retrievers),
  );
  if (d.unsupported.length) {
    append(
      details,
      h(
        "p",
        { class: "warning" },
        "Cited by the model but never retrieved (not evidence): ",
        d.unsupported.map((id, i) => [i ? ", " : "", h("code", {}, id)]),
      ),
    );
  }
  return h("li", {}, details);
}

// -- genes and inheritance, from the disease card -----------------------------------------------------------

let documents = new Map();

/** A passage by evidence id, fetched once per rendered decision. */
function fetchPassage(evidenceId) {
  if (!documents.has(evidenceId)) {
    const pending = api(`/v1/documents/${encodeURIComponent(evidenceId)}`);
    pending.catch(() => documents.delete(evidenceId));
    documents.set(evidenceId, pending);
  }
  return documents.get(evidenceId);
}

/**
 * The evidence ids a decision is known to have read: its retrievals, its passage hashes, and the passages its
 * diagnoses (and candidates considered) cite. Only these are asked of /v1/documents: a disease card is never
 * guessed from a code ("omim:621063#0"), since an index without it answers 404 and the console shows an error.
 */
export function knownEvidence(trace) {
  const known = new Set();
  const add = (id) => {
    if (typeof id === "string" && id) known.add(id);
  };
  for (const r of Array.isArray(trace && trace.retrievals) ? trace.retrievals : []) add(r && r.evidence_id);
  const hashes = trace && trace.passage_hashes;
  if (hashes && typeof hashes === "object") Object.keys(hashes).forEach(add);
  for (const key of ["diagnoses", "considered"]) {
    for (const d of Array.isArray(trace && trace[key]) ? trace[key] : []) {
      for (const e of Array.isArray(d && d.evidence) ? d.evidence : []) add(e && e.evidence_id);
    }
  }
  return known;
}

/**
 * The disease card a diagnosis rests on: its own card when cited, else a cited card naming it, else its own card
 * when the decision read it (`known`, from knownEvidence; by default the passages the diagnosis cites), else null.
 */
export function diseaseCardFor(d, known = null) {
  const own = d.code ? String(d.code).toLowerCase() : null;
  const cards = d.evidence.filter((e) => e.kind === "disease_knowledge");
  const cited = cards.find((e) => own && e.docId === own) || cards.find((e) => e.mentionsDiagnosis);
  if (cited) return { evidenceId: cited.evidenceId, cited: true };
  const read = known || new Set(d.evidence.map((e) => e.evidenceId));
  if (own && /^(omim|orpha):\d+$/.test(own) && read.has(`${own}#0`)) return { evidenceId: `${own}#0`, cited: false };
  return null;
}

/** "Label: a, b" lines of a disease card (continued lines joined): {Genes: [...], Inheritance: [...], ...}. */
export function cardFields(text) {
  // A long field is wrapped at spaces over "Label (continued): ..." lines: rejoin, then split at commas.
  const joined = {};
  for (const line of String(text).split(/\r?\n/)) {
    const found = /^(Genes|Inheritance|Onset|Clinical course)(?: \(continued\))?: (.+)$/.exec(line);
    if (found) joined[found[1]] = joined[found[1]] ? `${joined[found[1]]} ${found[2]}` : found[2];
  }
  const fields = {};
  for (const [label, value] of Object.entries(joined)) {
    fields[label] = value.split(/,\s*/).map((v) => v.trim()).filter(Boolean);
  }
  return fields;
}

/**
 * Fills a diagnosis's genes, inheritance and onset from its disease card (diseaseCardFor). `known`: the evidence ids
 * the decision read (knownEvidence); no other document is asked for, so a diagnosis whose card the decision did
 * not read says so calmly instead of asking the index for a card it may not hold.
 */
export async function fillDiseaseFacts({ diagnosis, facts, summaryFacts, known = null }) {
  const read = known || new Set(diagnosis.evidence.map((e) => e.evidenceId));
  let card = diseaseCardFor(diagnosis, read);
  const say = (...content) => {
    clear(facts);
    append(facts, ...content);
  };
  if (!card) {
    const why = diagnosis.code
      ? "no disease card among the passages this decision read; its code above links to its entry at the source"
      : "no disease card for this diagnosis";
    say(h("dt", {}, "Genes, inheritance"), h("dd", { class: "meta no-card" }, why));
    return;
  }
  let data;
  try {
    data = await fetchPassage(card.evidenceId);
  } catch (error) {
    const why =
      error.status === 404
        ? `no disease card for ${diagnosis.code ?? diagnosis.name} in this index`
        : `the disease card could not be read: ${error.message}`;
    say(h("dt", {}, "Genes, inheritance"), h("dd", { class: "meta no-card" }, why));
    return;
  }
  let fields = cardFields((data.document && data.document.text) || "");
  // A cited card of another source (Orphanet's, for an OMIM diagnosis) may list neither genes nor inheritance:
  // then the diagnosis's own card says them, shown as not cited.
  const own = diagnosis.code ? `${String(diagnosis.code).toLowerCase()}#0` : null;
  if (!fields.Genes && !fields.Inheritance && own && own !== card.evidenceId && read.has(own)) {
    try {
      const ownData = await fetchPassage(own);
      const ownFields = cardFields((ownData.document && ownData.document.text) || "");
      if (ownFields.Genes || ownFields.Inheritance) {
        fields = ownFields;
        card = { evidenceId: own, cited: diagnosis.evidence.some((e) => e.evidenceId === own) };
      }
    } catch (error) {
      // its own card is no longer in this index: the cited card's (empty) fields stand
    }
  }
  const row = (label, values) => [
    h("dt", {}, label),
    h("dd", { class: values && values.length ? "" : "meta" }, values && values.length ? values.join(", ") : "not given"),
  ];
  say(
    row("Genes", fields.Genes),
    row("Inheritance", fields.Inheritance),
    fields.Onset ? row("Onset", fields.Onset) : null,
    h("dt", {}, "From"),
    h(
      "dd",
      {},
      "disease card ",
      evidenceButton(card.evidenceId, { name: diagnosis.name, code: diagnosis.code, supports: [], fields: true }),
      card.cited ? null : h("span", { class: "meta" }, " (not cited by the diagnosis)"),
    ),
  );
  const brief = [
    fields.Genes && fields.Genes.length ? `genes ${fields.Genes.join(", ")}` : null,
    fields.Inheritance && fields.Inheritance.length ? fields.Inheritance.join(", ") : null,
  ].filter(Boolean);
  summaryFacts.textContent = brief.join(" · ");
}

// -- the decision -------------------------------------------------------------------------------------------

function renderInsufficient(trace, outcome) {
  const box = h("div", { class: "insufficient", role: "status" });
  const title = outcome === "no_diagnosis" ? "No diagnosis" : "Insufficient evidence";
  const retrieved = Array.isArray(trace && trace.retrievals) && trace.retrievals.length > 0;
  let summary = "The agent stopped without a differential. Nothing here supports a diagnosis.";
  const considered = Array.isArray(trace && trace.considered) && trace.considered.length > 0;
  if (outcome !== "no_diagnosis")
    summary = considered
      ? "No diagnosis is likely enough to be given as an answer (why below). The candidates it weighed are " +
        "listed below with their probabilities: they are not a diagnosis. Add findings, or answer the questions " +
        "under Next steps."
      : retrieved
        ? "No diagnosis is likely enough to be given as an answer (why below). The candidates it weighed are in " +
          "the reasoning below; add findings, or answer the questions under Next steps."
        : "Nothing was searched: the findings as understood are not enough to rank diseases. Add findings.";
  append(box, h("h3", {}, title), h("p", {}, summary));
  if (trace && typeof trace.reason === "string" && trace.reason)
    append(box, h("p", { class: "reason" }, `Why: ${trace.reason}.`));
  if (trace && trace.stop_reason) append(box, h("p", { class: "meta" }, `Stop reason: ${trace.stop_reason}`));
  if (trace && trace.error) append(box, h("p", { class: "meta" }, `Error: ${trace.error}`));
  return box;
}

/**
 * Where a reasoning turn's "explains n/m" differs from the differential's for a diagnosis, says so under the turn:
 * the policy counts a finding the disease is annotated with (or with a narrower term), the differential (the trace's
 * explanation) only one that also favours it (likelihood ratio above 1). The turn's words are the policy's record
 * and stay as written; the note names the findings that make the difference when the explanation shows them (those
 * annotated for the disease at a likelihood ratio of 1 or below, when they account for all of it). `shown`: the
 * diagnoses drawn above (normaliseDiagnoses).
 */
export function countNote(turn, shown) {
  const coverage = reasoningCoverage({ turns: [turn] });
  const lines = [];
  for (const d of shown) {
    const e = d.explanation;
    if (!e || !e.annotated) continue;
    const entry = (d.code && coverage.get(d.code)) || coverage.get(`name:${d.name.trim().toLowerCase()}`);
    const ours = Array.isArray(e.supports) ? e.supports.length : 0;
    const entered = Number(e.entered ?? 0);
    if (!entry || (entry.explained === ours && entry.entered === entered)) continue;
    const annotatedAgainst = (Array.isArray(e.not_explained) ? e.not_explained : []).filter(
      (r) => typeof r.frequency === "number" && r.frequency > 0 && !(Number(r.likelihood_ratio) > 1),
    );
    const named =
      annotatedAgainst.length && annotatedAgainst.length === entry.explained - ours
        ? `: ${annotatedAgainst
            .map(
              (r) =>
                `${shownLabel(r.label)}, annotated (in ${Math.round(r.frequency * 100)}% of its patients) but no ` +
                "commoner in it than in other diseases" +
                (r.likelihood_ratio === null || r.likelihood_ratio === undefined
                  ? ""
                  : ` (likelihood ratio ${fixed(r.likelihood_ratio, 2)})`),
            )
            .join("; ")}`
        : "";
    lines.push(
      h(
        "li",
        {},
        h("span", { class: "dx-name" }, d.name),
        ` explains ${entry.explained}/${entry.entered} here, ${ours}/${entered} in the differential above${named}.`,
      ),
    );
  }
  if (!lines.length) return null;
  return h(
    "div",
    { class: "count-note" },
    h(
      "p",
      {},
      "Counted two ways: this turn, in the policy's own words, counts a finding as explained when the disease is " +
        "annotated with it (or with a narrower term); the differential above, the figure the viewer shows, counts a " +
        "finding that favours the disease in the likelihood ratios (above 1), which leaves out one annotated but no " +
        "commoner in it than in other diseases, and takes in one the disease is annotated with only in a broader form.",
    ),
    h("ul", {}, lines),
  );
}

function renderTurns(trace, shown = []) {
  const turns = Array.isArray(trace && trace.turns) ? trace.turns : [];
  const retrievals = Array.isArray(trace && trace.retrievals) ? trace.retrievals : [];
  const section = h("section", { class: "turns", "aria-labelledby": "turns-heading" });
  append(section, h("h3", { id: "turns-heading" }, `Reasoning (${turns.length} turn${turns.length === 1 ? "" : "s"})`));
  if (!turns.length) return append(section, h("p", {}, "The trace has no turns."));
  const list = h("ol", { class: "turn-list" });
  for (const [position, turn] of turns.entries()) {
    const index = typeof turn.index === "number" ? turn.index : position;
    const item = h("li", { class: "turn" });
    append(
      item,
      h(
        "div",
        { class: "turn-head" },
        h("span", { class: "turn-index" }, `Turn ${index + 1}`),
        " ",
        h("span", { class: `action action-${String(turn.action || "none").replace(/[^a-z_]/g, "")}` }, String(turn.action || "no action")),
        h("span", { class: "meta" }, ` policy ${fixed(turn.policy_ms, 1)} ms · retrieval ${fixed(turn.env_ms, 1)} ms`),
      ),
      h("pre", { class: "turn-text" }, String(turn.text ?? "")),
      turn.action === "reason" ? countNote(turn, shown) : null,
    );
    if (turn.error) append(item, h("p", { class: "warning" }, `Error: ${turn.error}`));
    const found = retrievals.filter((r) => r.turn === index);
    if (found.length) {
      const passages = h("ul", { class: "retrieved" });
      for (const r of found) {
        append(
          passages,
          h(
            "li",
            {},
            evidenceButton(r.evidence_id),
            " ",
            h("span", { class: "doc-title" }, String(r.title ?? "")),
            h(
              "span",
              { class: "meta" },
              ` · ${kindLabel(r.kind)} · score ${fixed(r.score)}${r.duplicate ? " · already shown, withheld" : ""}`,
            ),
          ),
        );
      }
      const searches = [...new Set(found.map((r) => retrieverLabel(r.retriever)))].join("; ");
      append(
        item,
        h(
          "p",
          { class: "retrieved-label" },
          `Passages retrieved (${found.length}), by ${searches}; score: that search's own scale, higher is closer, ` +
            "not a probability:",
        ),
        passages,
      );
    }
    if (turn.observation) {
      append(
        item,
        h("details", { class: "observation" }, h("summary", {}, "What the agent was shown"), h("pre", {}, String(turn.observation))),
      );
    }
    append(list, item);
  }
  return append(section, list);
}

/**
 * Renders a decision into target. decision: { trace, auditId, outcome, modelVersion, indexVersion,
 * createdAt, identified, noteText, sentFindings, sentBundle } (identified: the input named the patient, so its pseudonym
 * is the patient's; noteText, sentFindings, sentBundle: the note, findings list or FHIR bundle just sent from this
 * page, to show what was not understood in its words, which the trace keeps by position or path only).
 * Returns the number of diagnoses shown.
 */
export function renderDecision(target, decision) {
  for (const [panel, home] of panelHomes) if (target.contains(panel)) home.append(panel);
  clear(target);
  documents = new Map();
  sentList = Array.isArray(decision.sentFindings) ? decision.sentFindings : null;
  const bundle = decision.sentBundle;
  sentEntries = bundle && typeof bundle === "object" && Array.isArray(bundle.entry) ? bundle.entry : null;
  const trace = decision.trace || {};
  const outcome = decision.outcome || trace.outcome;
  const diagnoses = normaliseDiagnoses(trace);
  const findings = caseFindings(trace);
  const coverage = reasoningCoverage(trace);
  append(
    target,
    h("h2", { id: "result-heading", tabindex: "-1" }, "Differential diagnosis"),
    h(
      "p",
      { class: "meta" },
      `Outcome: ${outcomeLabel(outcome)} · audit record `,
      h("code", { class: "audit-id" }, String(decision.auditId ?? "–")),
      ` · model ${decision.modelVersion ?? "–"} · index ${decision.indexVersion ?? trace.index_version ?? "–"}`,
      decision.createdAt || trace.created_at ? ` · ${localTime(decision.createdAt || trace.created_at)}` : "",
    ),
    renderFindings(trace, decision),
  );
  if (outcome !== "diagnosed" || !diagnoses.length) append(target, renderInsufficient(trace, outcome));
  const factsTargets = [];
  // a diagnosis and a candidate an abstention considered open alike
  const kind = probabilityKind(trace);
  const retrievers = retrieversOf(trace);
  const render = (d) =>
    renderDiagnosis(d, {
      coverage,
      findings,
      factsTargets,
      modelVersion: decision.modelVersion,
      patient: trace.case,
      kind,
      retrievers,
    });
  if (diagnoses.length) {
    append(
      target,
      h(
        "p",
        { class: "hint" },
        "Open a diagnosis for what it explains, its genes and inheritance, and its evidence chain; open an " +
          "evidence id to read the passage.",
      ),
      h("ol", { class: "differential", "aria-label": "Ranked differential" }, diagnoses.map(render)),
    );
  }
  const considered = outcome === "insufficient_evidence" ? normaliseDiagnoses(trace, "considered") : [];
  if (considered.length) {
    append(
      target,
      h("h3", { id: "considered-heading" }, "Considered, each too improbable to name"),
      h(
        "p",
        { class: "hint" },
        "Not a diagnosis: the leading candidates, with probabilities below the bar for an answer. Open one for " +
          "what it explains and what speaks against it.",
      ),
      h("ol", { class: "differential considered", "aria-labelledby": "considered-heading" }, considered.map(render)),
    );
  }
  append(target, renderNextSteps(trace, evidenceButton), renderTurns(trace, [...diagnoses, ...considered]));
  target.hidden = false;
  const known = knownEvidence(trace);
  for (const item of factsTargets) fillDiseaseFacts({ ...item, known });
  return diagnoses.length;
}

// -- the passage panel --------------------------------------------------------------------------------------

/** Splits text at [start, end) counted in Unicode code points (the server's Python string offsets). */
export function splitAt(text, start, end) {
  const points = Array.from(text);
  return [points.slice(0, start).join(""), points.slice(start, end).join(""), points.slice(end).join("")];
}

/**
 * Lines that state an absence: a patient record's "Excluded findings: ..." and the items under a disease
 * card's "Not a feature:" heading. A finding named there does not support a diagnosis, so it is not marked.
 * Returns a function of one line that keeps the heading state; `preceding` is the document text before the
 * passage (the heading may be there).
 */
function absenceTracker(preceding) {
  let underNotAFeature = false;
  const step = (line) => {
    const text = line.replace(/\r?\n$/, "");
    if (/^Not a feature:\s*$/.test(text)) underNotAFeature = true;
    else if (!/^- /.test(text)) underNotAFeature = false;
    return /^Excluded findings\b/.test(text) || /^Not a feature:/.test(text) || (underNotAFeature && /^- /.test(text));
  };
  for (const line of preceding.split(/(?<=\n)/)) step(line);
  return step;
}

/**
 * The lines of a passage that carry a claim: those naming one of the phrases (the findings the passage was
 * cited for, the diagnosis's name or code), as [{text, marked}] pieces that join back to the passage; lines
 * stating an absence are never marked. With no phrase, or none found, the whole passage is one marked piece.
 */
export function supportingLines(passage, phrases, preceding = "") {
  const patterns = phrases.filter((p) => p && p.trim()).map(wordPattern);
  const absence = absenceTracker(preceding);
  const pieces = [];
  if (patterns.length) {
    for (const line of passage.split(/(?<=\n)/)) {
      const marked = !absence(line) && patterns.some((pattern) => pattern.test(line));
      const last = pieces[pieces.length - 1];
      if (last && last.marked === marked && !marked) last.text += line;
      else pieces.push({ text: line, marked });
    }
  }
  if (!pieces.some((p) => p.marked)) return [{ text: passage, marked: true }];
  return pieces;
}

function renderCodes(doc) {
  const codes = Array.isArray(doc.codes) ? doc.codes.map(String) : [];
  if (!codes.length) return null;
  const labels = doc.code_labels && typeof doc.code_labels === "object" ? doc.code_labels : {};
  const phenotypes = codes.filter((c) => c.startsWith("HP:"));
  const others = codes.filter((c) => !c.startsWith("HP:"));
  const block = h("div", { class: "codes" });
  if (others.length) {
    append(block, h("p", {}, h("span", { class: "meta" }, "Codes: "), others.map((c, i) => [i ? ", " : "", codeLink(c)])));
  }
  if (phenotypes.length) {
    const list = h(
      "ul",
      { class: "term-list" },
      phenotypes.map((c) => h("li", {}, labels[c] ? `${labels[c]} ` : null, codeLink(c))),
    );
    append(
      block,
      h(
        "details",
        { class: "phenotype-codes" },
        h("summary", {}, `HPO terms of this document (${phenotypes.length})`),
        list,
      ),
    );
  }
  return block;
}

/** Fetches an evidence passage and shows it in its source document, the lines that carry the claim marked. */
export async function openPassage(panel, evidenceId, claim = null, onClose = null) {
  clear(panel);
  panel.hidden = false;
  const heading = h("h2", { id: "passage-heading", tabindex: "-1" }, "Evidence ", h("code", {}, evidenceId));
  const close = h("button", { type: "button", class: "close-passage", onclick: () => onClose && onClose() }, "Close passage");
  const status = h("p", { role: "status" }, "Loading the passage…");
  const errorBox = h("div", { class: "message", role: "alert", hidden: true });
  append(panel, h("div", { class: "passage-head" }, heading, close), status, errorBox);
  heading.focus({ preventScroll: true });
  let data;
  try {
    data = await fetchPassage(evidenceId);
  } catch (error) {
    status.remove();
    showError(errorBox, error);
    return;
  }
  status.remove();
  const doc = data.document || {};
  const text = String(doc.text ?? "");
  const passage = String(data.passage ?? "");
  let [before, chunk, after] = splitAt(text, data.start, data.end);
  let note = null;
  if (chunk !== passage) {
    const at = text.indexOf(passage);
    if (at >= 0 && passage) {
      [before, chunk, after] = [text.slice(0, at), passage, text.slice(at + passage.length)];
    } else {
      [before, chunk, after] = ["", passage, ""];
      note = "The passage could not be located in the document text; it is shown on its own.";
    }
  }
  const phrases = claim ? [...(claim.supports || []), claim.name, claim.code].filter(Boolean) : [];
  const pieces = claim && claim.fields ? fieldLines(chunk) : supportingLines(chunk, phrases, before);
  const whole = pieces.length === 1 && pieces[0].marked;
  const chunkNode = h(
    "span",
    { class: whole ? "chunk" : "chunk partial", id: "passage-chunk" },
    pieces.map((p) => (p.marked ? h("mark", {}, p.text) : p.text)),
  );
  const body = h("pre", { class: "document-text", tabindex: "0", "aria-label": "Source document text" }, before, chunkNode, after);

  const marks = pieces.filter((p) => p.marked).length;
  let hint;
  if (!claim) hint = "The cited passage is highlighted.";
  else if (claim.fields) hint = `Highlighted: the genes, inheritance and onset of ${claim.name} on its disease card.`;
  else if (whole) {
    hint = `Cited for ${claim.name}; the passage names none of the findings line by line, so all of it is highlighted.`;
  } else {
    const named = (claim.supports || []).length ? `the findings ${claim.supports.join(", ")}` : "no finding of the case";
    hint =
      `Cited for ${claim.name}, naming ${named}. Highlighted: the ${marks} line${marks === 1 ? "" : "s"} of the passage ` +
      "that name the diagnosis or those findings; the rest of the cited passage is tinted.";
  }

  const meta = h("dl", { class: "doc-meta" });
  const row = (label, ...value) => append(meta, h("dt", {}, label), h("dd", {}, ...value));
  row("Document", h("span", { class: "doc-title" }, String(doc.title ?? "")));
  row("Document id", h("code", {}, String(doc.id ?? data.doc_id ?? "")));
  row("Kind", kindLabel(doc.kind));
  if (data.section) row("Section", String(data.section));
  row("Source", `${doc.source ?? "–"} (licence ${doc.licence ?? "–"})`);
  row("Passage", `chunk ${data.ordinal}, characters ${data.start}–${data.end} of ${Array.from(text).length}`);
  append(panel, h("p", { class: "hint passage-hint" }, hint));
  if (note) append(panel, h("p", { class: "warning" }, note));
  append(panel, body, meta, renderCodes(doc));
  const first = chunkNode.querySelector("mark") || chunkNode;
  body.scrollTop = Math.max(0, first.offsetTop - 24);
}

/** The "Genes:", "Inheritance:", "Onset:" lines of a disease card, marked. */
function fieldLines(chunk) {
  return chunk
    .split(/(?<=\n)/)
    .map((line) => ({ text: line, marked: /^(Genes|Inheritance|Onset)(?: \(continued\))?: /.test(line) }));
}

const NARROW = "(max-width: 1000px)";
/** Each wired passage panel and its place on a wide screen (a re-render must not take the panel with it). */
const panelHomes = new Map();

/**
 * Clicking any evidence id button inside root opens its passage in panel (one listener for all). On a wide
 * screen the panel is the side column; on a narrow one (a phone) it opens right below the clicked button's
 * table or list, so the passage is next to what was clicked. Closing it returns focus to the button.
 */
export function wireEvidenceLinks(root, panel) {
  const home = panel.parentElement;
  panelHomes.set(panel, home);
  const narrow = window.matchMedia(NARROW);
  let opener = null;
  const goHome = () => {
    if (panel.parentElement !== home) home.append(panel);
  };
  const close = () => {
    clear(panel).hidden = true;
    goHome();
    if (opener && opener.isConnected) opener.focus();
  };
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) close();
  });
  narrow.addEventListener("change", () => {
    if (!narrow.matches) goHome();
  });
  root.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button.evidence-link") : null;
    if (!button || !root.contains(button)) return;
    event.preventDefault();
    const id = button.dataset.evidenceId;
    if (!id) return;
    opener = button;
    if (narrow.matches) {
      const anchor = button.closest(".table-wrap, ul.retrieved, dl") || button.parentElement;
      anchor.after(panel);
      openPassage(panel, id, claims.get(button) || null, close);
      panel.scrollIntoView({ block: "start" }); // right below the button's table or list
    } else {
      // The side column opens and narrows the differential: keep the clicked button where it was on screen.
      goHome();
      const top = button.getBoundingClientRect().top;
      openPassage(panel, id, claims.get(button) || null, close);
      window.scrollBy(0, button.getBoundingClientRect().top - top);
    }
  });
}
