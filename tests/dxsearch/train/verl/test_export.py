"""Exported parquet files are read by verl's own RLHFDataset, and held-out cases never reach a train split."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from omegaconf import DictConfig
from transformers import PreTrainedTokenizerBase

from dxsearch.cases import Case, LabelledCase
from dxsearch.evaluation import disease_names
from dxsearch.policies.prompt import render_case
from dxsearch.train.verl.calls import tool_schema
from dxsearch.train.verl.export import (
    HeldOutLeakError,
    export_parquet,
    index_helpers,
    main,
    publication_key,
)
from dxsearch.train.verl.preflight import compose
from dxsearch.train.verl.prompt import TOOL_PROMPT_VERSION, TOOL_SYSTEM_PROMPT, build_prompt
from dxsearch.train.verl.tool import CreateKwargs
from rewards import verl_entry
from rewards.gold import Gold
from rewards.verl_entry import parse_ground_truth
from tests.dxsearch.train.verl.helpers import CYSTIC_FIBROSIS, MARFAN

SIBLING = LabelledCase(  # another patient of MARFAN's publication, written "1000001" instead of "PMID:1000001"
    case=MARFAN.case.model_copy(update={"case_id": "PMID:1000001-case-2"}),
    gold=MARFAN.gold,
    pmid="1000001",
)


def data_config(tool_config_path: Path, **overrides: object) -> DictConfig:
    """The data section of the composed GRPO config, as the trainer hands it to RLHFDataset."""
    items = [
        f"actor_rollout_ref.rollout.multi_turn.tool_config_path={tool_config_path}",
        # the tiny tokenizer spends far more tokens on the prompt than Qwen2.5's
        "data.max_prompt_length=20000",
        *(f"{k}={v}" for k, v in overrides.items()),
    ]
    return compose(items).data


def test_exported_rows_load_with_verl_rlhf_dataset_and_round_trip(
    tmp_path: Path, tokenizer: PreTrainedTokenizerBase, tool_config_path: Path
) -> None:
    from verl.trainer.ppo.utils import create_rl_dataset
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    path = tmp_path / "train.parquet"
    gold = Gold(id="OMIM:154700", label="Marfan syndrome", synonyms=("MFS",), equivalent_codes=("ORPHA:558",))
    written = export_parquet(
        [MARFAN, CYSTIC_FIBROSIS],
        path,
        split="train",
        heldout=[],
        exclude_doc_ids=lambda c: ("pt:aaaa1111",) if c is MARFAN else (),
        gold=lambda c: gold if c is MARFAN else Gold(id=c.gold.id, label=c.gold.label),
    )
    assert written == 2
    cfg = data_config(tool_config_path)
    dataset = create_rl_dataset([str(path)], cfg, tokenizer, None, is_train=True)
    assert len(dataset) == 2  # the length filter (real tokenizer, tool schemas included) kept both rows
    assert dataset.tool_schemas == [tool_schema()]  # it read our tool config, as the rollout will
    sample = dataset[0]
    assert sample["data_source"] == "dxsearch" and sample["agent_name"] == "tool_agent"
    assert sample["raw_prompt"] == build_prompt(MARFAN.case)
    assert sample["raw_prompt"][0]["content"] == TOOL_SYSTEM_PROMPT
    assert sample["raw_prompt"][1]["content"] == render_case(MARFAN.case)
    assert MARFAN.case.case_id not in json.dumps(sample["raw_prompt"])  # the case id never reaches the model
    assert sample["index"] == 0 and sample["extra_info"]["split"] == "train"
    assert sample["extra_info"]["prompt_version"] == TOOL_PROMPT_VERSION
    assert parse_ground_truth(sample["reward_model"]["ground_truth"]) == gold
    create = CreateKwargs.model_validate(sample["tools_kwargs"]["retrieve"]["create_kwargs"])
    assert create.case == MARFAN.case and create.exclude_doc_ids == ("pt:aaaa1111",) and create.gold is None
    other = CreateKwargs.model_validate(dataset[1]["tools_kwargs"]["retrieve"]["create_kwargs"])
    assert other.case == CYSTIC_FIBROSIS.case  # age and hpo ids None, free text kept
    assert parse_ground_truth(dataset[1]["reward_model"]["ground_truth"]).id == "OMIM:219700"
    # input ids as the tool agent loop builds them (Continuous Token, with the tool schemas)
    builder = create_continuous_token_builder(tokenizer, hf_model_type="qwen2")
    input_ids = builder.build_initial_tokens(sample["raw_prompt"], tools=dataset.tool_schemas)
    assert len(input_ids) > 100
    text = tokenizer.decode(input_ids)
    assert "Arachnodactyly (HP:0001166)" in text and '"name": "retrieve"' in text


def test_files_of_one_dataset_concatenate_and_long_prompts_are_filtered(
    tmp_path: Path, tokenizer: PreTrainedTokenizerBase, tool_config_path: Path
) -> None:
    from verl.trainer.ppo.utils import create_rl_dataset

    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    export_parquet([MARFAN], first, split="validation", exclude_doc_ids=lambda c: ("pt:aaaa1111",))
    export_parquet([CYSTIC_FIBROSIS], second, split="validation")  # every exclude list empty here
    assert pq.read_schema(first) == pq.read_schema(second)
    both = create_rl_dataset([str(first), str(second)], data_config(tool_config_path), tokenizer, None)
    assert [Case.model_validate(both[i]["tools_kwargs"]["retrieve"]["create_kwargs"]["case"]) for i in (0, 1)] == [
        MARFAN.case,
        CYSTIC_FIBROSIS.case,
    ]
    short = data_config(tool_config_path, **{"data.max_prompt_length": 64})
    assert len(create_rl_dataset([str(first)], short, tokenizer, None)) == 0


def test_held_out_cases_never_go_into_a_train_split(tmp_path: Path) -> None:
    assert publication_key(MARFAN) == publication_key(SIBLING) == "pmid:1000001"
    with pytest.raises(HeldOutLeakError, match="1 held-out case"):
        export_parquet([CYSTIC_FIBROSIS, SIBLING], tmp_path / "t.parquet", split="train", heldout=[MARFAN])
    with pytest.raises(HeldOutLeakError):  # the same case id counts even without a PMID
        export_parquet([CYSTIC_FIBROSIS], tmp_path / "t.parquet", split="train", heldout=[CYSTIC_FIBROSIS])
    with pytest.raises(ValueError, match="needs the held-out cases"):
        export_parquet([CYSTIC_FIBROSIS], tmp_path / "t.parquet", split="train")
    with pytest.raises(ValueError, match="split must be one of"):
        export_parquet([CYSTIC_FIBROSIS], tmp_path / "t.parquet", split="dev")  # type: ignore[arg-type]
    assert not (tmp_path / "t.parquet").exists()
    assert export_parquet([CYSTIC_FIBROSIS], tmp_path / "t.parquet", split="train", heldout=[MARFAN]) == 1
    assert export_parquet([MARFAN, SIBLING], tmp_path / "v.parquet", split="validation") == 2


def _write_cases(path: Path, cases: list[LabelledCase]) -> Path:
    rows = [
        {
            "case_id": c.case.case_id,
            "pmid": c.pmid,
            "sex": c.case.sex,
            "age": c.case.age,
            "phenotypes": [{"id": f.hpo_id, "label": f.label, "excluded": f.excluded} for f in c.case.findings],
            "disease": {"id": c.gold.id, "label": c.gold.label},
        }
        for c in cases
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_command_line_export_refuses_a_train_split_without_or_against_held_out_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _write_cases(tmp_path / "index.jsonl", [SIBLING])
    heldout = _write_cases(tmp_path / "heldout.jsonl", [MARFAN])
    out = tmp_path / "out" / "train.parquet"
    assert main(["--cases", str(cases), "--split", "train", "--out", str(out)]) == 2
    assert "--split train needs --heldout" in capsys.readouterr().err
    assert main(["--cases", str(cases), "--heldout", str(heldout), "--split", "train", "--out", str(out)]) == 2
    assert "held-out case(s) cannot go into a train split: PMID:1000001-case-2" in capsys.readouterr().err
    assert not out.exists()
    assert main(["--cases", str(heldout), "--split", "validation", "--out", str(out)]) == 0
    assert "wrote 1 validation rows" in capsys.readouterr().out
    assert pq.read_table(out).column("extra_info").to_pylist()[0]["case_id"] == MARFAN.case.case_id
    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    assert help_exit.value.code == 0
    assert "Held-out cases never go into a train split" in capsys.readouterr().out


def test_golds_from_an_index_take_names_only_from_disease_knowledge(small_index: Path) -> None:
    from dxsearch.retrieval.embedded import EmbeddedIndex

    index = EmbeddedIndex(small_index)
    try:
        assert disease_names(index, "OMIM:154700") == ["Marfan syndrome"]  # not "Patient record (female, 14 years)"
        exclude, gold_of = index_helpers(index)
        gold = gold_of(MARFAN)
        assert gold.id == "OMIM:154700" and gold.synonyms == () and gold.equivalent_codes == ()
        assert exclude(MARFAN) == frozenset()  # the small index records no publications
    finally:
        index.close()
    record_title = "<diagnose>\n1. Patient record (female, 14 years) | - | pt:aaaa1111#0\n</diagnose>"
    assert verl_entry.compute_score("dxsearch", record_title, gold.model_dump_json())["accuracy"] == 0.0
