// The "Next steps" section of a decision: the gene panel, the questions to ask next and the guideline
// passages that name a candidate, exactly as the trace carries them (trace.next_steps, computed by the server
// from the final diagnoses and the index's disease knowledge). Nothing is reasoned here: every gene, figure
// and passage is read from the trace, and the viewer only says where it came from.
//
// Text from the trace goes into the page as text nodes (h/append), never parsed as HTML.

import { append, fixed, h, probabilityFigure } from "./common.js";
import { codeLink } from "./links.js";

function list(value) {
  return Array.isArray(value) ? value : [];
}

function diagnosisLabel(d) {
  return `${d.rank}. ${String(d.name ?? "")}`;
}

/** "1. Marfan syndrome (OMIM:154700), 3. …" with each code linked to its reference page. */
function diagnosisRefs(diagnoses) {
  return list(diagnoses).map((d, i) => [
    i ? ", " : "",
    diagnosisLabel(d),
    d.code ? [" (", codeLink(d.code), ")"] : null,
  ]);
}

function renderPanel(panel) {
  const box = h("div", { class: "next-block gene-panel" });
  const genes = list(panel.genes);
  append(
    box,
    h("h4", {}, `Gene panel: ${genes.length} gene${genes.length === 1 ? "" : "s"}`),
    h(
      "p",
      { class: "meta" },
      `The genes a genetic test of these diagnoses would cover (from ${String(panel.source ?? "the gene table")}), ` +
        "each listed once with the diagnoses it is for.",
    ),
  );
  if (genes.length) {
    const table = h(
      "table",
      { class: "panel-table" },
      h("caption", {}, "Each gene and the diagnoses it is for"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Gene"), h("th", { scope: "col" }, "For"))),
      h(
        "tbody",
        {},
        genes.map((g) =>
          h("tr", {}, h("th", { scope: "row", class: "gene" }, String(g.symbol ?? "")), h("td", {}, diagnosisRefs(g.diagnoses))),
        ),
      ),
    );
    append(box, h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Gene panel" }, table));
  }
  const without = list(panel.without_genes);
  if (without.length) append(box, h("p", { class: "meta" }, "No gene known for: ", diagnosisRefs(without)));
  return box;
}

/** A probability as the whole viewer prints it (common.js probabilityFigure): never "0.00" or "1.00". */
export const probability = probabilityFigure;

/** The scale of the candidates' probabilities: a trace from before `scale` was recorded had them renormalised. */
function scaleOf(steps) {
  if (typeof steps.scale === "string") return steps.scale;
  return steps.basis === "retrieved_diseases" ? "equal" : "among_candidates";
}

/** What the share left to diseases not among the candidates is, when there is one. */
function noneOfThese(steps) {
  const rest = steps.none_of_these;
  return scaleOf(steps) === "differential" && typeof rest === "number" && rest > 0 ? rest : null;
}

function shiftList(shifts, restBefore, restAfter) {
  const items = list(shifts);
  if (!items.length) {
    if (restBefore !== null && typeof restAfter === "number" && restAfter >= restBefore + 0.005) {
      return [h("span", { class: "dx-name" }, "none of these"), ` ${probability(restBefore)} → ${probability(restAfter)}`];
    }
    return h("span", { class: "meta" }, "none of the candidates");
  }
  return items.map((s, i) => [
    i ? "; " : "",
    h("span", { class: "dx-name" }, String(s.name ?? "")),
    ` ${probability(s.before)} → ${probability(s.after)}`,
  ]);
}

/** What the numbers after each answer are, in one sentence. */
function scaleSentence(steps) {
  const scale = scaleOf(steps);
  if (scale === "equal") return "Each answer shows a candidate's share before → after it, the candidates taken as equally likely.";
  if (scale === "among_candidates") {
    return "Each answer shows a candidate's probability before → after it, renormalised among the candidates (not the differential's).";
  }
  const rest = noneOfThese(steps);
  const weighed = steps.basis === "differential" ? "as the differential gives it" : "as it was weighed";
  return (
    `Each answer shows a candidate's probability ${weighed}, before → after the answer` +
    (rest !== null ? `; ${probability(rest)} is left to none of these candidates, and moves too.` : ".")
  );
}

function renderQuestions(questions, steps) {
  const basis = steps.basis;
  const box = h("div", { class: "next-block questions" });
  append(
    box,
    h("h4", {}, "Ask next"),
    h(
      "p",
      { class: "meta" },
      basis === "retrieved_diseases"
        ? "Findings whose presence or absence would best separate the diseases the search retrieved (taken as " +
            "equally likely: this is not a differential)."
        : basis === "considered"
          ? "Findings whose presence or absence would best separate the candidates considered, by expected " +
            "information (bits) (not a differential). " + scaleSentence(steps)
          : "Findings whose presence or absence would best separate the top diagnoses, by expected information " +
            "(bits). " + scaleSentence(steps) + " Findings the patient has, or was asked about, are left out.",
    ),
  );
  const restBefore = noneOfThese(steps);
  const ol = h("ol", { class: "question-list" });
  for (const q of list(questions)) {
    const chances = h(
      "table",
      { class: "chance-table" },
      h("caption", {}, `How often each candidate shows ${String(q.label ?? "")}`),
      h(
        "thead",
        {},
        h("tr", {}, ["Diagnosis", "Chance", "From"].map((label) => h("th", { scope: "col" }, label))),
      ),
      h(
        "tbody",
        {},
        list(q.chances).map((c) =>
          h(
            "tr",
            {},
            h("td", {}, `${c.rank}. `, c.code ? codeLink(c.code) : "no code"),
            h("td", { class: "num" }, fixed(c.chance, 2)),
            h("td", {}, String(c.annotation ?? "")),
          ),
        ),
        restBefore !== null && typeof q.none_of_these_chance === "number"
          ? h(
              "tr",
              { class: "none-of-these" },
              h("td", {}, "none of these"),
              h("td", { class: "num" }, fixed(q.none_of_these_chance, 2)),
              h("td", {}, "diseases at large: the share annotated with it, the others at the default chance"),
            )
          : null,
      ),
    );
    append(
      ol,
      h(
        "li",
        { class: "question", dataset: { hpoId: String(q.hpo_id ?? "") } },
        h(
          "p",
          { class: "question-head" },
          h("span", { class: "question-label" }, `Does the patient have ${String(q.label ?? "")}?`),
          " ",
          codeLink(q.hpo_id),
          h("span", { class: "meta" }, ` · ${fixed(q.information_gain_bits, 2)} bits expected`),
        ),
        h(
          "p",
          { class: "answer answer-yes" },
          h("span", { class: "answer-label" }, "If present, favours: "),
          shiftList(q.if_present, restBefore, q.none_of_these_if_present),
        ),
        h(
          "p",
          { class: "answer answer-no" },
          h("span", { class: "answer-label" }, "If absent, favours: "),
          shiftList(q.if_absent, restBefore, q.none_of_these_if_absent),
        ),
        h(
          "details",
          { class: "chances" },
          h("summary", {}, "Chance of this finding in each candidate"),
          h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `Chances of ${q.label}` }, chances),
        ),
      ),
    );
  }
  if (!list(questions).length) append(box, h("p", { class: "meta" }, "No finding would separate the candidates."));
  else append(box, ol);
  return box;
}

function referenceLink(reference) {
  const text = String(reference ?? "");
  return codeLink(text.toLowerCase().startsWith("doi:") ? `doi:${text.slice(4)}` : text);
}

function renderGuidelines(guidelines, evidenceButton) {
  const items = list(guidelines);
  if (!items.length) return null; // the server's notes say whether the corpus was searched
  const box = h("div", { class: "next-block guidelines" });
  append(
    box,
    h("h4", {}, "Guideline passages"),
    h("p", { class: "meta" }, "Passages of the corpus's guidelines that name a diagnosis; open one to read it in its document."),
  );
  const ul = h("ul", { class: "guideline-list retrieved" });
  for (const g of items) {
    const first = list(g.diagnoses)[0] || {};
    const claim = { name: String(first.name ?? ""), code: first.code ?? null, supports: [] };
    const references = list(g.references);
    append(
      ul,
      h(
        "li",
        { class: "guideline" },
        evidenceButton(String(g.evidence_id ?? ""), claim),
        " ",
        h("span", { class: "doc-title" }, String(g.title ?? "")),
        g.section ? h("span", { class: "meta" }, ` § ${g.section}`) : null,
        h("br"),
        h("span", { class: "meta" }, "names ", h("q", {}, String(g.names ?? "")), " · for "),
        diagnosisRefs(g.diagnoses),
        references.length ? [h("br"), h("span", { class: "meta" }, "Reference: "), references.map((r, i) => [i ? ", " : "", referenceLink(r)])] : null,
        g.note ? [h("br"), h("span", { class: "badge summary-badge" }, String(g.note))] : null,
        g.licence ? [h("br"), h("span", { class: "meta" }, `${g.source ?? "source"} · licence: ${g.licence}`)] : null,
      ),
    );
  }
  return append(box, ul);
}

/**
 * The "Next steps" section of a trace, or null when the trace has none. evidenceButton(id, claim) makes the
 * buttons that open a passage (render.js's, so the passage panel opens as for any evidence).
 */
export function renderNextSteps(trace, evidenceButton) {
  const steps = trace && trace.next_steps;
  if (!steps || typeof steps !== "object") return null;
  const basis = steps.basis;
  const section = h("section", { class: "next-steps", "aria-labelledby": "next-steps-heading" });
  const candidates = list(steps.candidates);
  const probabilities = list(steps.probabilities);
  const scale = scaleOf(steps);
  const rest = noneOfThese(steps);
  const stated =
    scale === "among_candidates"
      ? "with their probabilities renormalised among them (not the differential's)"
      : scale === "equal"
        ? "taken as equally likely (no probabilities were given)"
        : basis === "considered"
          ? "with the probabilities they were weighed at"
          : "with their probabilities as the differential gives them";
  append(
    section,
    h("h3", { id: "next-steps-heading" }, "Next steps"),
    h(
      "p",
      { class: "meta" },
      basis === "retrieved_diseases"
        ? "No differential was given, so there is no panel or guideline to suggest; these questions would help " +
            "the next attempt. Diseases retrieved: "
        : basis === "considered"
          ? "No differential was given, so there is no panel or guideline to suggest; these questions would " +
            `separate the candidates considered, ${stated}: `
          : "For the top diagnoses, computed by the server from the differential and the index's disease " +
            `knowledge; nothing here changes the ranking. Candidates, ${stated}: `,
      candidates.map((c, i) => [
        i ? ", " : "",
        diagnosisLabel(c),
        basis === "retrieved_diseases" || scale === "equal" || typeof probabilities[i] !== "number"
          ? ""
          : ` (${probability(probabilities[i])})`,
      ]),
      rest !== null ? `; none of these: ${probability(rest)}` : "",
    ),
  );
  if (steps.gene_panel) append(section, renderPanel(steps.gene_panel));
  append(section, renderQuestions(steps.questions, steps));
  if (basis !== "retrieved_diseases" && basis !== "considered") append(section, renderGuidelines(steps.guidelines, evidenceButton));
  const notes = list(steps.notes);
  if (notes.length) append(section, h("ul", { class: "next-notes meta" }, notes.map((n) => h("li", {}, String(n)))));
  return section;
}
