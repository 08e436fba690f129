"""Shared values of the verl integration tests: known cases of the small index, and a hermes chat template."""

from __future__ import annotations

from support import marfan_case, marfan_findings, marfan_labelled

from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase

#: The Marfan patient record of tests/support.py's SMALL_DOCS, as an evidence id.
MARFAN_PATIENT = "pt:aaaa1111#0"
MARFAN_CARD = "omim:154700#0"

MARFAN = marfan_labelled(
    marfan_case(
        "PMID:1000001-case-1",
        age="P15Y",
        findings=marfan_findings(("HP:0001166", "HP:0001083"), excluded={"HP:0001249": "Intellectual disability"}),
    ),
    pmid="PMID:1000001",
)
CYSTIC_FIBROSIS = LabelledCase(
    case=Case(
        case_id="sim-cf-7",
        sex="male",
        age=None,
        findings=(Finding(label="Recurrent respiratory infections"), Finding(label="Pancreatic insufficiency")),
        text="Salty skin noticed by the parents.",
    ),
    gold=GoldDiagnosis(id="OMIM:219700", label="Cystic fibrosis"),
)

#: A ChatML template with hermes tool calls, written for these tests in the shape Qwen2.5's template
#: renders (tools listed in the system turn, calls as <tool_call> JSON, tool answers inside a user turn
#: as <tool_response> blocks), so the tiny model stands in for Qwen2.5-7B-Instruct in verl's tool loop.
HERMES_TEMPLATE = (
    "{%- if tools %}{{ '<|im_start|>system\\n' }}"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content + '\\n\\n' }}{%- endif %}"
    "{{ '# Tools\\n<tools>' }}{%- for tool in tools %}{{ '\\n' + (tool | tojson) }}{%- endfor %}"
    "{{ '\\n</tools><|im_end|>\\n' }}"
    "{%- elif messages[0].role == 'system' %}{{ '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' and loop.first %}"
    "{%- elif message.role == 'tool' %}"
    "{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{ '<|im_start|>user' }}{%- endif %}"
    "{{ '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{ '<|im_end|>\\n' }}{%- endif %}"
    "{%- elif message.role == 'assistant' %}"
    "{{ '<|im_start|>assistant' }}{%- if message.content %}{{ '\\n' + message.content }}{%- endif %}"
    "{%- for call in message.tool_calls or [] %}"
    '{{ \'\\n<tool_call>\\n{"name": "\' + call.function.name + \'", "arguments": \' }}'
    "{{ call.function.arguments | tojson }}{{ '}\\n</tool_call>' }}"
    "{%- endfor %}{{ '<|im_end|>\\n' }}"
    "{%- else %}{{ '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
