"""Probe a local Elasticsearch node: text + dense_vector(384, hnsw, cosine), bulk, match, knn, analyzers."""

import pathlib
import random
import sys

from elasticsearch import Elasticsearch, helpers
from elasticsearch import __versionstr__ as client_version

HERE = pathlib.Path(__file__).resolve().parent
url = sys.argv[1] if len(sys.argv) > 1 else (HERE.parents[2] / "var" / "es.url").read_text().strip()
es = Elasticsearch(url, request_timeout=30)
DIMS = 384
rng = random.Random(42)


def vec():
    return [rng.uniform(-1, 1) for _ in range(DIMS)]


def mapping(analyzer=None):
    text = {"type": "text"}
    if analyzer:
        text["analyzer"] = analyzer
    return {
        "properties": {
            "title": text,
            "embedding": {
                "type": "dense_vector",
                "dims": DIMS,
                "index": True,
                "similarity": "cosine",
                "index_options": {"type": "hnsw"},
            },
        }
    }


node = next(
    iter(es.nodes.info(filter_path="nodes.*.version,nodes.*.plugins.name,nodes.*.modules.name")["nodes"].values())
)
print(
    f"client {client_version}; server {node['version']}; health {es.cluster.health()['status']}; "
    f"modules {[m['name'] for m in node['modules']]}; plugins {[p['name'] for p in node.get('plugins', [])]}"
)

DOCS = [
    "The quick brown fox jumps over the lazy dog",
    "Foxes are running through the forest",
    "A lazy afternoon with a good book",
    "Elasticsearch nodes running locally for tests",
    "Dense vectors enable approximate nearest neighbour search",
]
vectors = [vec() for _ in DOCS]

idx = "probe-standard"
es.options(ignore_status=404).indices.delete(index=idx)
es.indices.create(index=idx, mappings=mapping(), settings={"number_of_shards": 1, "number_of_replicas": 0})
ok, errors = helpers.bulk(
    es,
    (
        {"_index": idx, "_id": str(i), "title": t, "embedding": v}
        for i, (t, v) in enumerate(zip(DOCS, vectors, strict=False))
    ),
)
print(f"bulk: {ok} ok, errors={errors}")
es.indices.refresh(index=idx)
print("count:", es.count(index=idx)["count"])

r = es.search(index=idx, query={"match": {"title": "lazy fox"}}, source_excludes=["embedding"])
print("\nmatch 'lazy fox' (standard analyzer):")
for h in r["hits"]["hits"]:
    print(f"  {h['_id']} {h['_score']:.4f} {h['_source']['title']}")

r = es.search(
    index=idx,
    knn={"field": "embedding", "query_vector": vectors[3], "k": 3, "num_candidates": 10},
    source_excludes=["embedding"],
)
print("\nknn k=3 with doc 3's vector (expect doc 3 first, score ~1.0):")
for h in r["hits"]["hits"]:
    print(f"  {h['_id']} {h['_score']:.4f} {h['_source']['title']}")

r = es.search(
    index=idx,
    query={"match": {"title": "lazy"}},
    knn={"field": "embedding", "query_vector": vectors[0], "k": 2, "num_candidates": 10},
    source_excludes=["embedding"],
    size=3,
)
print("\nhybrid match 'lazy' + knn (doc0 vector):")
for h in r["hits"]["hits"]:
    print(f"  {h['_id']} {h['_score']:.4f} {h['_source']['title']}")

print("\nanalyzers:")
for an in ["standard", "simple", "whitespace", "keyword", "stop", "english", "snowball"]:
    name = f"probe-an-{an}"
    es.options(ignore_status=404).indices.delete(index=name)
    try:
        es.indices.create(index=name, mappings=mapping(an))
        toks = [
            t["token"]
            for t in es.indices.analyze(index=name, field="title", text="Foxes are running quickly")["tokens"]
        ]
        print(f"  {an:10s} accepted, tokens={toks}")
    except Exception as e:
        print(f"  {an:10s} REJECTED: {getattr(e, 'message', '')} {str(e)[:220]}")
    es.options(ignore_status=404).indices.delete(index=name)

print("\ncustom analyzers / filters:")
for label, analysis in [
    (
        "porter_stem filter",
        {"analyzer": {"a": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "porter_stem"]}}},
    ),
    (
        "stemmer(english)",
        {
            "filter": {"s": {"type": "stemmer", "language": "english"}},
            "analyzer": {"a": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "s"]}},
        },
    ),
    (
        "lowercase+stop (server)",
        {
            "filter": {"s": {"type": "stop", "stopwords": "_english_"}},
            "analyzer": {"a": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "s"]}},
        },
    ),
    (
        "asciifolding",
        {"analyzer": {"a": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}},
    ),
]:
    name = "probe-custom"
    es.options(ignore_status=404).indices.delete(index=name)
    try:
        es.indices.create(index=name, settings={"analysis": analysis})
        toks = [
            t["token"]
            for t in es.indices.analyze(index=name, analyzer="a", text="Foxes are running quickly Café")["tokens"]
        ]
        print(f"  {label:24s} accepted, tokens={toks}")
    except Exception as e:
        print(f"  {label:24s} REJECTED: {str(e)[:220]}")
    es.options(ignore_status=404).indices.delete(index=name)

print("\nenglish via index-level analyzer {type: english} (needs the dxsearch-analysis plugin):")
name = "probe-english"
es.options(ignore_status=404).indices.delete(index=name)
try:
    es.indices.create(
        index=name,
        settings={
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": {"analyzer": {"english": {"type": "english"}}},
        },
        mappings=mapping("english"),
    )
    toks = [
        t["token"] for t in es.indices.analyze(index=name, field="title", text="The foxes' running quickly")["tokens"]
    ]
    print(f"  accepted, tokens={toks}")
    helpers.bulk(
        es,
        (
            {"_index": name, "_id": str(i), "title": t, "embedding": v}
            for i, (t, v) in enumerate(zip(DOCS, vectors, strict=False))
        ),
        refresh=True,
    )
    r = es.search(index=name, query={"match": {"title": "run fox"}}, source_excludes=["embedding"])
    print("  match 'run fox' (stemmed):")
    for h in r["hits"]["hits"]:
        print(f"    {h['_id']} {h['_score']:.4f} {h['_source']['title']}")
except Exception as e:
    print(f"  REJECTED: {str(e)[:300]}")
es.options(ignore_status=404).indices.delete(index=name)

es.indices.delete(index=idx)
print("\nPROBE OK")
