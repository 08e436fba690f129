"""The reference deployment (``deploy/compose``, ``deploy/k8s``) parses, and its pieces point at each other.

Nothing is started: the compose file and the Kubernetes manifests are read as YAML and checked against each
other and against the code (``Settings`` fields, the API's routes, the registered policies, audit store
schemes and retrieval backends). Each check is a function returning the problems it found, so the tests
at the end can break a copy (a wrong port, a renamed node) and see the check fail.
"""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the dev extra

from dxsearch.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s"

ES_IMAGE_REPO = "docker.elastic.co/elasticsearch/elasticsearch"
ES_HTTP_PORT = 9200  # the image's default http.port; neither deployment changes it
POSTGRES_PORT = 5432  # the postgres image's default
#: Analyzers in Elasticsearch's server itself, with no module or plugin (the local node's distribution has
#: them too), so a mapping that uses only these runs on the official image as it is.
BUILT_IN_ANALYZERS = frozenset({"whitespace", "standard", "simple", "keyword", "stop"})
#: What installing an Elasticsearch plugin looks like; the reference deployment installs none.
PLUGIN_MARKS = re.compile(
    r"dxsearch-analysis|elasticsearch-plugin\W+install|build-es-plugin|/usr/share/elasticsearch/plugins"
)
#: The project's single development node, which builds the optional analysis plugin on request.
LOCAL_NODE = DEPLOY / "elasticsearch" / "local-node"
SHARED_SETTINGS = (
    "DXSEARCH_INDEX",
    "DXSEARCH_ES_URL",
    "DXSEARCH_ES_INDEX_PREFIX",
    "DXSEARCH_ES_SHARDS",
    "DXSEARCH_ES_REPLICAS",
    "DXSEARCH_DERIVED_DIR",
)

Doc = dict[str, Any]


# -- shared helpers ----------------------------------------------------------------------------------------


def _settings_env_names() -> set[str]:
    return {f"DXSEARCH_{name.upper()}" for name in Settings.model_fields}


def _memory_bytes(value: str) -> int:
    """``4g`` / ``4Gi`` / ``4096m`` / ``512Mi`` as bytes (binary units; the JVM's g is GiB too)."""
    match = re.fullmatch(r"(\d+)([kmgKMG])i?[bB]?", str(value).strip())
    assert match, f"unreadable memory size {value!r}"
    unit: int = 1024 ** ("kmg".index(match.group(2).lower()) + 1)
    return int(match.group(1)) * unit


def _heap_problems(where: str, java_opts: str, memory: str) -> list[str]:
    sizes = dict(re.findall(r"-Xm([sx])(\d+[kmgKMG])", java_opts))
    if set(sizes) != {"s", "x"} or sizes["s"] != sizes["x"]:
        return [f"{where}: ES_JAVA_OPTS must set -Xms and -Xmx to one size, got {java_opts!r}"]
    if 2 * _memory_bytes(sizes["x"]) != _memory_bytes(memory):
        return [f"{where}: heap {sizes['x']} is not half of the memory limit {memory}"]
    return []


def _es_version(image: str) -> str:
    repo, _, tag = image.rpartition(":")
    assert repo == ES_IMAGE_REPO, image
    return tag


@cache
def _api_get_paths() -> frozenset[str]:
    """The GET paths the API app serves, from its own OpenAPI document."""
    from api.app import create_app

    paths = create_app(Settings(development=True)).openapi()["paths"]
    return frozenset(path for path, operations in paths.items() if "get" in operations)


def _url_problems(where: str, url: str, host: str, port: int) -> list[str]:
    parts = urlsplit(url)
    if (parts.hostname, parts.port) != (host, port):
        return [f"{where}: {url} should point at {host}:{port}"]
    return []


def _settings_values_problems(where: str, env: dict[str, str]) -> list[str]:
    """Values the code would refuse: every DXSEARCH_* value must validate as a Settings field."""
    from audit.backends import store_scheme
    from dxsearch.policies.catalog import POLICIES
    from dxsearch.retrieval.backends import BACKENDS

    problems = []
    fields = {k.removeprefix("DXSEARCH_").lower(): v for k, v in env.items() if k.startswith("DXSEARCH_")}
    try:
        Settings.model_validate(fields)
    except ValueError as exc:
        problems.append(f"{where}: the settings do not validate: {exc}")
    if "policy" in fields and fields["policy"] not in POLICIES:
        problems.append(f"{where}: DXSEARCH_POLICY={fields['policy']} is not a registered policy")
    if "backend" in fields and fields["backend"] not in BACKENDS:
        problems.append(f"{where}: DXSEARCH_BACKEND={fields['backend']} is not a registered backend")
    if "audit_url" in fields:
        url = fields["audit_url"]
        if store_scheme(url) is None:
            problems.append(f"{where}: DXSEARCH_AUDIT_URL {url} has no registered audit store scheme")
        if urlsplit(url).password:
            problems.append(f"{where}: DXSEARCH_AUDIT_URL carries a password; give it as PGPASSWORD")
    return problems


def _committed(path: Path) -> bool:
    """A file of the deployment, not one an operator made locally (secrets, .env)."""
    return path.is_file() and not ("secrets" in path.parts[:-1] or path.name == ".env")


# -- no Elasticsearch plugin -------------------------------------------------------------------------------


def mapping_problems(mappings: Doc) -> list[str]:
    """The backend's index mapping must use only analyzers Elasticsearch has built in: the cluster has no plugin."""
    problems = []
    if "analyzer" not in mappings["properties"]["body"]:
        problems.append("the body field must name its analyzer")
    for field, spec in mappings["properties"].items():
        for key in ("analyzer", "search_analyzer"):
            if key in spec and spec[key] not in BUILT_IN_ANALYZERS:
                problems.append(f"{field}: {key} {spec[key]} is not built into Elasticsearch (it would need a plugin)")
    return problems


def reference_deployment_texts() -> dict[str, str]:
    """Every committed file of deploy/ except the local development node, by its path under the repository."""
    return {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(DEPLOY.rglob("*"))
        if _committed(path) and LOCAL_NODE not in path.parents and "__pycache__" not in path.parts
    }


def plugin_mention_problems(texts: dict[str, str]) -> list[str]:
    return [
        f"{name} installs or names an Elasticsearch plugin: {match.group(0)!r}"
        for name, text in texts.items()
        if (match := PLUGIN_MARKS.search(text))
    ]


# -- the compose file --------------------------------------------------------------------------------------


def load_compose() -> Doc:
    doc = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _command(service: Doc) -> list[str]:
    """entrypoint + command as one argv, with ``sh -c`` / ``bash -c`` scripts split into words."""
    argv: list[str] = []
    for key in ("entrypoint", "command"):
        part = service.get(key) or []
        argv += shlex.split(part) if isinstance(part, str) else [str(p) for p in part]
    if argv[:1] in (["/bin/sh"], ["/bin/bash"], ["sh"], ["bash"]) and argv[1:2] == ["-c"]:
        return [word.rstrip(";") for word in shlex.split(" ".join(argv[2:]))]
    return argv


def _option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def _mounts(service: Doc) -> dict[str, tuple[str, bool]]:
    """target -> (source, read_only) of a compose service's short-syntax volumes."""
    mounts = {}
    for spec in service.get("volumes", []):
        source, target, *mode = str(spec).split(":")
        mounts[target] = (source, "ro" in mode)
    return mounts


def _es_nodes(compose: Doc) -> dict[str, Doc]:
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith(ES_IMAGE_REPO) and "node.name" in (service.get("environment") or {})
    }


def _depends(service: Doc) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in (service.get("depends_on") or {}).items()}


def _chowns_to_es_user(service: Doc, path: str, volume: str) -> bool:
    """Whether a service runs as root, mounts ``volume`` writable at ``path`` and chowns it to the image's user."""
    argv = _command(service)
    return (
        str(service.get("user", "")).split(":")[0] in ("0", "root")
        and _mounts(service).get(path) == (volume, False)
        and argv[:1] == ["chown"]
        and argv[-1] == path
        and argv[-2].split(":")[0] == "1000"
    )


def compose_problems(compose: Doc) -> list[str]:
    services: dict[str, Doc] = compose["services"]
    problems: list[str] = []
    nodes = _es_nodes(compose)
    names = set(nodes)
    if len(nodes) != 3:
        problems.append(f"expected 3 Elasticsearch nodes, found {sorted(names)}")
    cluster_names = set()
    for name, node in nodes.items():
        env = node["environment"]
        cluster_names.add(env.get("cluster.name"))
        if env["node.name"] != name or node.get("hostname") != name:
            problems.append(f"{name}: node.name and hostname must be the service name")
        for setting in ("discovery.seed_hosts", "cluster.initial_master_nodes"):
            # cluster.initial_master_nodes is removed once the cluster has formed (deploy/README.md)
            if (setting in env or setting == "discovery.seed_hosts") and set(str(env.get(setting)).split(",")) != names:
                problems.append(f"{name}: {setting} must name {sorted(names)}, got {env.get(setting)!r}")
        problems += _heap_problems(name, env.get("ES_JAVA_OPTS", ""), node.get("mem_limit", "0g"))
        if "path.repo" in env:
            if _mounts(node).get(env["path.repo"], ("",))[0] != "es-snapshots":
                problems.append(f"{name}: path.repo must be the shared es-snapshots volume")
            # The image has no snapshots directory, so the volume starts out root's: a one-shot hands it over.
            owners = [
                other
                for other, condition in _depends(node).items()
                if condition == "service_completed_successfully"
                and _chowns_to_es_user(services.get(other, {}), env["path.repo"], "es-snapshots")
            ]
            if not owners:
                problems.append(f"{name}: must start after a one-shot gave es-snapshots to uid 1000 (path.repo)")
    if len(cluster_names) != 1:
        problems.append(f"the nodes disagree on cluster.name: {cluster_names}")

    api, build = services["api"], services["corpus-build"]
    api_env, build_env = api["environment"], build["environment"]
    for key in SHARED_SETTINGS:
        if api_env.get(key) != build_env.get(key):
            problems.append(f"{key} differs: api {api_env.get(key)!r}, corpus-build {build_env.get(key)!r}")
    if api.get("image") != build.get("image"):
        problems.append("the corpus build must run the API's image")
    problems += _settings_values_problems("api", api_env) + _settings_values_problems("corpus-build", build_env)

    es_url = urlsplit(api_env["DXSEARCH_ES_URL"])
    shared_aliases = set.intersection(
        *(
            {a for net in (n.get("networks") or {}).values() for a in (net or {}).get("aliases", [])}
            for n in nodes.values()
        )
    )
    if not ({es_url.hostname} & (names | shared_aliases)) or es_url.port != ES_HTTP_PORT:
        problems.append(f"DXSEARCH_ES_URL {api_env['DXSEARCH_ES_URL']} is no Elasticsearch node's http port")
    if int(api_env["DXSEARCH_ES_REPLICAS"]) > len(nodes) - 1:
        problems.append("DXSEARCH_ES_REPLICAS leaves replicas unassigned on this many nodes")

    vllm_argv = _command(services["vllm"])
    problems += _url_problems(
        "DXSEARCH_LLM_BASE_URL", api_env["DXSEARCH_LLM_BASE_URL"], "vllm", int(_option(vllm_argv, "--port") or 0)
    )
    if not api_env["DXSEARCH_LLM_BASE_URL"].rstrip("/").endswith("/v1"):
        problems.append("DXSEARCH_LLM_BASE_URL must end in /v1 (vLLM's OpenAI-compatible root)")
    if api_env.get("DXSEARCH_LLM_MODEL") != _option(vllm_argv, "--served-model-name"):
        problems.append("DXSEARCH_LLM_MODEL must be vLLM's --served-model-name")
    if api_env.get("DXSEARCH_LLM_API_KEY") != services["vllm"]["environment"].get("VLLM_API_KEY"):
        problems.append("the API's DXSEARCH_LLM_API_KEY and vLLM's VLLM_API_KEY must be the same variable")

    pg = services["postgres"]
    audit = urlsplit(api_env["DXSEARCH_AUDIT_URL"])
    problems += _url_problems("DXSEARCH_AUDIT_URL", api_env["DXSEARCH_AUDIT_URL"], "postgres", POSTGRES_PORT)
    if (
        audit.username != pg["environment"]["POSTGRES_USER"]
        or audit.path.lstrip("/") != pg["environment"]["POSTGRES_DB"]
    ):
        problems.append("DXSEARCH_AUDIT_URL's user and database must be POSTGRES_USER and POSTGRES_DB")
    if api_env.get("PGPASSWORD") != pg["environment"]["POSTGRES_PASSWORD"]:
        problems.append("the API's PGPASSWORD and POSTGRES_PASSWORD must be the same variable")
    if _option(pg["healthcheck"]["test"], "-p") != str(POSTGRES_PORT):
        problems.append("postgres's health check must probe the port the audit URL names")

    key_path = Path(api_env["DXSEARCH_AUDIT_SIGNING_KEY"])
    if key_path.parent != Path("/run/secrets") or key_path.name not in api.get("secrets", []):
        problems.append("DXSEARCH_AUDIT_SIGNING_KEY must be a secret the API mounts at /run/secrets/<name>")
    elif key_path.name not in compose.get("secrets", {}):
        problems.append(f"secret {key_path.name} is not declared at the top level")

    index_dir = api_env["DXSEARCH_INDEX"]
    api_index, build_index = _mounts(api).get(index_dir), _mounts(build).get(index_dir)
    if api_index is None or build_index is None or api_index[0] != build_index[0]:
        problems.append(f"the API and the corpus build must mount one volume at DXSEARCH_INDEX ({index_dir})")
    elif not api_index[1] or build_index[1]:
        problems.append("the index volume must be read-only in the API and writable in the corpus build")
    build_argv = _command(build)
    if _option(build_argv, "--out") != index_dir or _option(build_argv, "--backend") != "elasticsearch":
        problems.append("corpus-build must build --backend elasticsearch --out DXSEARCH_INDEX")

    api_argv = _command(api)
    port = _option(api_argv, "--port")
    if api_argv[:2] != ["dxsearch", "serve"] or _option(api_argv, "--host") != "0.0.0.0" or port is None:
        problems.append("the API must run `dxsearch serve --host 0.0.0.0 --port P`")
    if not any(str(p).endswith(f":{port}") for p in api.get("ports", [])):
        problems.append(f"the API's published port must map to its --port {port}")
    probe = " ".join(api["healthcheck"]["test"])
    match = re.search(r"http://localhost:(\d+)(/[\w/]*)", probe)
    if not match or match.group(1) != port or match.group(2) != "/readyz" or "/readyz" not in _api_get_paths():
        problems.append(f"the API's health check must GET /readyz on port {port}, got {probe!r}")

    wanted = {**dict.fromkeys(names, "service_healthy"), "postgres": "service_healthy", "vllm": "service_healthy"}
    wanted["corpus-build"] = "service_completed_successfully"
    if _depends(api) != wanted:
        problems.append(f"the API must depend on {wanted}, got {_depends(api)}")
    if _depends(build) != dict.fromkeys(names, "service_healthy"):
        problems.append("the corpus build must wait for every Elasticsearch node to be healthy")
    for service in (api, build):
        for name, condition in _depends(service).items():
            if condition == "service_healthy" and "healthcheck" not in services[name]:
                problems.append(f"{name} is waited on as healthy but has no health check")
    return problems


# -- the Kubernetes manifests ------------------------------------------------------------------------------


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def load_k8s() -> list[Doc]:
    return [doc for path in k8s_files() for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def load_kustomization() -> Doc:
    doc = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _get(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def _container(workload: Doc, name: str | None = None) -> Doc:
    containers = _pod_spec(workload)["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def _workloads(docs: list[Doc]) -> Iterator[Doc]:
    return (d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job"))


def _labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(selector: dict[str, str], workload: Doc) -> bool:
    return all(_labels(workload).get(k) == v for k, v in selector.items())


def _container_ports(workload: Doc) -> dict[str, int]:
    """name -> number of every port any container of the workload declares."""
    return {
        p.get("name", str(p["containerPort"])): p["containerPort"]
        for c in _pod_spec(workload)["containers"]
        for p in c.get("ports", [])
    }


def _resolve_service(docs: list[Doc], host: str, port: int) -> tuple[Doc, int] | None:
    """The workload behind Service ``host`` and the container port its ``port`` reaches, if any."""
    services = [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == host]
    if len(services) != 1:
        return None
    spec = services[0]["spec"]
    target = next((p.get("targetPort", p["port"]) for p in spec["ports"] if p["port"] == port), None)
    if target is None:
        return None
    for workload in _workloads(docs):
        if _selects(spec["selector"], workload):
            ports = _container_ports(workload)
            number = ports.get(target) if isinstance(target, str) else int(target)
            if number is not None and number in ports.values():
                return workload, number
    return None


def _env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """A container's environment: its ConfigMaps (envFrom) and its own ``env``; secrets as ``secret:NAME/KEY``."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(_get(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return env


def _volume_mounts(workload: Doc, container: Doc) -> dict[str, tuple[Doc, bool]]:
    """mountPath -> (the pod's volume, read_only) of one container."""
    volumes = {v["name"]: v for v in _pod_spec(workload).get("volumes", [])}
    for template in workload["spec"].get("volumeClaimTemplates", []):
        volumes[template["metadata"]["name"]] = {"name": template["metadata"]["name"], "volumeClaimTemplate": True}
    return {m["mountPath"]: (volumes[m["name"]], bool(m.get("readOnly"))) for m in container.get("volumeMounts", [])}


def _http_probe(container: Doc, probe: str) -> tuple[str, int] | None:
    spec = container.get(probe, {}).get("httpGet")
    if spec is None:
        return None
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    port = spec["port"]
    return spec["path"], ports.get(port, port) if isinstance(port, str) else port


def _generated_secret_keys(kustomization: Doc, name: str) -> set[str]:
    """The keys of a Secret the kustomization generates, read from the committed examples of its files."""
    generator = next(g for g in kustomization.get("secretGenerator", []) if g["name"] == name)
    keys = set()
    for env_file in generator.get("envs", []):
        example = (K8S / f"{env_file}.example").read_text(encoding="utf-8")
        keys |= {line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    for spec in generator.get("files", []):
        keys.add(spec.split("=", 1)[0] if "=" in spec else Path(spec).name)
    return keys


def k8s_problems(docs: list[Doc], kustomization: Doc) -> list[str]:
    problems: list[str] = []
    config = _get(docs, "ConfigMap", "dxsearch-config")["data"]

    # Elasticsearch: three nodes that find each other by name.
    es = _get(docs, "StatefulSet", "elasticsearch")
    spec = es["spec"]
    replicas, sts = spec["replicas"], es["metadata"]["name"]
    headless = _get(docs, "Service", spec["serviceName"])["spec"]
    if replicas != 3:
        problems.append(f"the Elasticsearch StatefulSet must have 3 replicas, has {replicas}")
    if spec.get("podManagementPolicy") != "Parallel":
        problems.append("the Elasticsearch StatefulSet needs podManagementPolicy Parallel to bootstrap")
    if headless.get("clusterIP") != "None" or not headless.get("publishNotReadyAddresses"):
        problems.append("the StatefulSet's service must be headless and publish not-ready addresses")
    if not _selects(headless["selector"], es) or {p["port"] for p in headless["ports"]} != {ES_HTTP_PORT, 9300}:
        problems.append("the headless service must select the nodes on ports 9200 and 9300")
    node = _container(es, "elasticsearch")
    env = {v["name"]: v for v in node["env"]}
    if env["node.name"].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
        problems.append("node.name must be the pod name")
    pods = [f"{sts}-{i}" for i in range(replicas)]
    seeds = env["discovery.seed_hosts"]["value"].split(",")
    if seeds != [f"{pod}.{spec['serviceName']}" for pod in pods]:
        problems.append(f"discovery.seed_hosts must name the pods through the headless service, got {seeds}")
    if "cluster.initial_master_nodes" in env and env["cluster.initial_master_nodes"]["value"].split(",") != pods:
        problems.append(f"cluster.initial_master_nodes must be {pods}")
    problems += _heap_problems("elasticsearch", env["ES_JAVA_OPTS"]["value"], node["resources"]["limits"]["memory"])
    if "path.repo" in env:
        volume, _ = _volume_mounts(es, node).get(env["path.repo"]["value"], ({}, False))
        if "persistentVolumeClaim" not in volume:
            problems.append("path.repo must be a mounted shared volume")
    if _container_ports(es).get("http") != ES_HTTP_PORT:
        problems.append(f"the nodes' http port must be {ES_HTTP_PORT}")

    # The API and the corpus build: one configuration, one index volume.
    api = _get(docs, "Deployment", "dxsearch-api")
    job = _get(docs, "Job", "corpus-build")
    api_c, job_c = _container(api, "api"), _container(job, "corpus-build")
    api_env, job_env = _env(docs, api_c), _env(docs, job_c)
    for key in SHARED_SETTINGS:
        if api_env.get(key) != job_env.get(key):
            problems.append(f"{key} differs: api {api_env.get(key)!r}, corpus-build {job_env.get(key)!r}")
    if api_c["image"] != job_c["image"]:
        problems.append("the corpus build must run the API's image")
    problems += _settings_values_problems("api", api_env) + _settings_values_problems("corpus-build", job_env)

    es_url = urlsplit(config["DXSEARCH_ES_URL"])
    reached = _resolve_service(docs, es_url.hostname or "", es_url.port or 80)
    if reached is None or reached[0] is not es or reached[1] != ES_HTTP_PORT:
        problems.append(f"DXSEARCH_ES_URL {config['DXSEARCH_ES_URL']} does not reach the nodes' http port")
    if int(config["DXSEARCH_ES_REPLICAS"]) > replicas - 1:
        problems.append("DXSEARCH_ES_REPLICAS leaves replicas unassigned on this many nodes")

    vllm = _get(docs, "Deployment", "vllm")
    vllm_c = _container(vllm)
    vllm_argv = [*vllm_c.get("command", []), *vllm_c.get("args", [])]
    llm_url = urlsplit(config["DXSEARCH_LLM_BASE_URL"])
    reached = _resolve_service(docs, llm_url.hostname or "", llm_url.port or 80)
    if reached is None or reached[0] is not vllm or str(reached[1]) != _option(vllm_argv, "--port"):
        problems.append(f"DXSEARCH_LLM_BASE_URL {config['DXSEARCH_LLM_BASE_URL']} does not reach vLLM's --port")
    if not llm_url.path.rstrip("/").endswith("/v1"):
        problems.append("DXSEARCH_LLM_BASE_URL must end in /v1 (vLLM's OpenAI-compatible root)")
    if config.get("DXSEARCH_LLM_MODEL") != _option(vllm_argv, "--served-model-name"):
        problems.append("DXSEARCH_LLM_MODEL must be vLLM's --served-model-name")
    if api_env.get("DXSEARCH_LLM_API_KEY") != _env(docs, vllm_c).get("VLLM_API_KEY"):
        problems.append("the API's DXSEARCH_LLM_API_KEY and vLLM's VLLM_API_KEY must be the same secret")

    postgres = _get(docs, "StatefulSet", "postgres")
    pg_env = _env(docs, _container(postgres))
    audit = urlsplit(config["DXSEARCH_AUDIT_URL"])
    reached = _resolve_service(docs, audit.hostname or "", audit.port or POSTGRES_PORT)
    if reached is None or reached[0] is not postgres or reached[1] != POSTGRES_PORT:
        problems.append(f"DXSEARCH_AUDIT_URL {config['DXSEARCH_AUDIT_URL']} does not reach PostgreSQL")
    if audit.username != pg_env["POSTGRES_USER"] or audit.path.lstrip("/") != pg_env["POSTGRES_DB"]:
        problems.append("DXSEARCH_AUDIT_URL's user and database must be POSTGRES_USER and POSTGRES_DB")
    if api_env.get("PGPASSWORD") != pg_env["POSTGRES_PASSWORD"]:
        problems.append("the API's PGPASSWORD and POSTGRES_PASSWORD must be the same secret")

    # Secrets: every reference names a key the kustomization generates; the signing key is a mounted file.
    for workload in _workloads(docs):
        for container in _pod_spec(workload)["containers"]:
            for value in _env(docs, container).values():
                if value.startswith("secret:"):
                    secret, key = value.removeprefix("secret:").split("/")
                    if key not in _generated_secret_keys(kustomization, secret):
                        problems.append(f"{workload['metadata']['name']}: secret key {secret}/{key} is never generated")
    key_path = Path(config["DXSEARCH_AUDIT_SIGNING_KEY"])
    key_volume, _ = _volume_mounts(api, api_c).get(str(key_path.parent), ({}, False))
    secret_name = key_volume.get("secret", {}).get("secretName")
    if secret_name is None or key_path.name not in _generated_secret_keys(kustomization, secret_name):
        problems.append("DXSEARCH_AUDIT_SIGNING_KEY must be a file of a generated Secret the API mounts")

    # The index volume: the same claim, at DXSEARCH_INDEX, read-only in the API.
    index_dir = config["DXSEARCH_INDEX"]
    api_index = _volume_mounts(api, api_c).get(index_dir)
    job_index = _volume_mounts(job, job_c).get(index_dir)
    claims = {d["metadata"]["name"]: d for d in docs if d["kind"] == "PersistentVolumeClaim"}
    if api_index is None or job_index is None:
        problems.append(f"the API and the corpus build must mount the index at DXSEARCH_INDEX ({index_dir})")
    else:
        claim = api_index[0].get("persistentVolumeClaim", {}).get("claimName")
        if claim is None or claim != job_index[0].get("persistentVolumeClaim", {}).get("claimName"):
            problems.append("the API and the corpus build must mount the same index claim")
        elif "ReadWriteMany" not in claims[claim]["spec"]["accessModes"]:
            problems.append("the index claim must be ReadWriteMany: pods on several nodes mount it")
        if not api_index[1] or job_index[1]:
            problems.append("the index volume must be read-only in the API and writable in the corpus build")
    if _option(job_c["command"], "--out") != index_dir or _option(job_c["command"], "--backend") != "elasticsearch":
        problems.append("the corpus build must build --backend elasticsearch --out DXSEARCH_INDEX")

    # The API's command, ports and probes.
    argv = api_c["command"]
    port = int(_option(argv, "--port") or 0)
    if argv[:2] != ["dxsearch", "serve"] or _option(argv, "--host") != "0.0.0.0":
        problems.append("the API must run `dxsearch serve --host 0.0.0.0 --port P`")
    reached = _resolve_service(docs, "dxsearch-api", 80)
    if reached is None or reached[0] is not api or reached[1] != port:
        problems.append(f"Service dxsearch-api must reach the API's --port {port}")
    wanted = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in wanted.items():
        found = _http_probe(api_c, probe)
        if found != (path, port) or path not in _api_get_paths():
            problems.append(f"the API's {probe} must GET {path} on port {port}, got {found}")

    # Network policies: each lets in pods that exist, on ports the selected pods serve.
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        name = policy["metadata"]["name"]
        targets = [w for w in _workloads(docs) if _selects(policy["spec"]["podSelector"]["matchLabels"], w)]
        if not targets:
            problems.append(f"NetworkPolicy {name} selects no pods")
        for rule in policy["spec"]["ingress"]:
            for peer in rule["from"]:
                if not any(_selects(peer["podSelector"]["matchLabels"], w) for w in _workloads(docs)):
                    problems.append(f"NetworkPolicy {name} admits pods that do not exist: {peer}")
            for port_spec in rule["ports"]:
                if not all(port_spec["port"] in _container_ports(w).values() for w in targets):
                    problems.append(f"NetworkPolicy {name} opens port {port_spec['port']}, which its pods do not serve")
    for workload, needs in ((api, ("elasticsearch", "postgres", "vllm")), (job, ("elasticsearch",))):
        for target in needs:
            policy = _get(docs, "NetworkPolicy", target)
            peers = [p["podSelector"]["matchLabels"] for rule in policy["spec"]["ingress"] for p in rule["from"]]
            if not any(_selects(peer, workload) for peer in peers):
                problems.append(f"NetworkPolicy {target} shuts out {workload['metadata']['name']}")
    return problems


# -- the tests ---------------------------------------------------------------------------------------------


def test_every_dxsearch_variable_named_in_deploy_is_a_setting() -> None:
    known = _settings_env_names()
    files = [p for p in [*(DEPLOY / "compose").rglob("*"), *K8S.rglob("*")] if _committed(p)]
    files += [K8S / "secrets" / "dxsearch.env.example", DEPLOY / "README.md"]
    unknown = {
        (path.relative_to(ROOT).as_posix(), name)
        for path in files
        for name in re.findall(r"\bDXSEARCH_[A-Z0-9_]*[A-Z0-9]", path.read_text(encoding="utf-8"))
        if name not in known
    }
    assert not unknown, f"not fields of Settings: {sorted(unknown)}"


def test_the_compose_file_points_at_itself() -> None:
    assert compose_problems(load_compose()) == []


def test_the_kubernetes_manifests_point_at_each_other() -> None:
    assert k8s_problems(load_k8s(), load_kustomization()) == []


def test_the_kustomization_lists_every_manifest_and_nothing_else() -> None:
    kustomization = load_kustomization()
    assert sorted(kustomization["resources"]) == [p.name for p in k8s_files()]
    assert kustomization["namespace"] == _get(load_k8s(), "Namespace", kustomization["namespace"])["metadata"]["name"]


def test_the_backends_mapping_needs_no_elasticsearch_plugin() -> None:
    from dxsearch.retrieval.elasticsearch import MAPPINGS

    assert MAPPINGS["properties"]["body"]["analyzer"] in BUILT_IN_ANALYZERS
    assert mapping_problems(MAPPINGS) == []


def test_the_reference_deployment_installs_no_elasticsearch_plugin() -> None:
    texts = reference_deployment_texts()
    assert {"deploy/README.md", "deploy/compose/compose.yaml", "deploy/k8s/elasticsearch.yaml"} <= set(texts)
    assert plugin_mention_problems(texts) == []


def test_generated_inputs_are_made_on_the_deploying_machine_and_never_committed() -> None:
    """The secret files the kustomization reads are git-ignored, and their examples exist."""
    kustomization = load_kustomization()
    ignored = (K8S / ".gitignore").read_text(encoding="utf-8").split()
    for generator in kustomization.get("configMapGenerator", []) + kustomization["secretGenerator"]:
        for spec in generator.get("files", []) + generator.get("envs", []):
            path = spec.split("=", 1)[-1]
            assert f"{Path(path).parent}/" in ignored or f"{Path(path).parent}/*" in ignored, path
    for env_file in (e for g in kustomization["secretGenerator"] for e in g.get("envs", [])):
        assert (K8S / f"{env_file}.example").is_file()
    assert {"secrets/", ".env"} <= set((DEPLOY / "compose" / ".gitignore").read_text().split())


def test_compose_and_kubernetes_deploy_the_same_thing() -> None:
    compose, docs = load_compose(), load_k8s()
    config = _get(docs, "ConfigMap", "dxsearch-config")["data"]
    api_env = compose["services"]["api"]["environment"]
    for key in (*SHARED_SETTINGS, "DXSEARCH_POLICY", "DXSEARCH_LLM_MODEL", "DXSEARCH_BACKEND"):
        assert api_env[key] == config[key], key
    images = {
        c["image"]
        for w in _workloads(docs)
        for c in _pod_spec(w)["containers"] + _pod_spec(w).get("initContainers", [])
    }
    images |= {str(s.get("image")) for s in compose["services"].values()}
    es_versions = {_es_version(image) for image in images if image.startswith(ES_IMAGE_REPO)}
    assert es_versions == {"9.4.6"}
    # The project's Elasticsearch client must speak to that server (pyproject: elasticsearch>=9.4,<9.5).
    assert 'es = ["elasticsearch>=9.4,<9.5"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


# The checks must be able to fail: break one thing in a copy and see it named.


def _compose_with(change: str) -> Doc:
    compose = copy.deepcopy(load_compose())
    services = compose["services"]
    if change == "es port":
        services["api"]["environment"]["DXSEARCH_ES_URL"] = "http://elasticsearch:9201"
    elif change == "es host":
        services["api"]["environment"]["DXSEARCH_ES_URL"] = "http://es04:9200"
    elif change == "alias on two nodes":
        services["es03"] = {k: v for k, v in services["es03"].items() if k != "networks"}
    elif change == "seed hosts":
        services["es02"]["environment"]["discovery.seed_hosts"] = "es01,es02,es04"
    elif change == "vllm port":
        services["vllm"]["command"][services["vllm"]["command"].index("--port") + 1] = "8002"
    elif change == "audit database":
        services["postgres"]["environment"]["POSTGRES_DB"] = "audit"
    elif change == "index prefix":
        services["corpus-build"]["environment"] = {
            **services["corpus-build"]["environment"],
            "DXSEARCH_ES_INDEX_PREFIX": "other",
        }
    elif change == "writable index":
        services["api"]["volumes"] = [v.removesuffix(":ro") for v in services["api"]["volumes"]]
    elif change == "probe path":
        services["api"]["healthcheck"]["test"] = [
            t.replace("/readyz", "/ready") for t in services["api"]["healthcheck"]["test"]
        ]
    elif change == "heap":
        services["es03"]["environment"] = {**services["es03"]["environment"], "ES_JAVA_OPTS": "-Xms3g -Xmx3g"}
    elif change == "snapshots owner not waited for":
        services["es02"] = {k: v for k, v in services["es02"].items() if k != "depends_on"}
    elif change == "snapshots left to root":
        services["es-snapshots-owner"]["entrypoint"] = ["true"]
    return compose


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("es port", "DXSEARCH_ES_URL"),
        ("es host", "DXSEARCH_ES_URL"),
        ("alias on two nodes", "DXSEARCH_ES_URL"),
        ("seed hosts", "discovery.seed_hosts"),
        ("vllm port", "DXSEARCH_LLM_BASE_URL"),
        ("audit database", "POSTGRES_DB"),
        ("index prefix", "DXSEARCH_ES_INDEX_PREFIX"),
        ("writable index", "read-only"),
        ("probe path", "/readyz"),
        ("heap", "half of the memory"),
        ("snapshots owner not waited for", "es02: must start after a one-shot gave es-snapshots"),
        ("snapshots left to root", "es01: must start after a one-shot gave es-snapshots"),
    ],
)
def test_a_broken_compose_file_fails(change: str, named: str) -> None:
    problems = compose_problems(_compose_with(change))
    assert any(named in p for p in problems), problems


def _k8s_with(change: str) -> list[Doc]:
    docs = copy.deepcopy(load_k8s())
    config = _get(docs, "ConfigMap", "dxsearch-config")["data"]
    if change == "es port":
        config["DXSEARCH_ES_URL"] = "http://elasticsearch:9201"
    elif change == "vllm service port":
        _get(docs, "Service", "vllm")["spec"]["ports"][0]["port"] = 8002
    elif change == "initial masters":
        env = _container(_get(docs, "StatefulSet", "elasticsearch"))["env"]
        next(v for v in env if v["name"] == "cluster.initial_master_nodes")["value"] = "es-0,es-1,es-2"
    elif change == "audit user":
        config["DXSEARCH_AUDIT_URL"] = "postgresql://postgres@postgres:5432/dxsearch_audit"
    elif change == "readiness path":
        _container(_get(docs, "Deployment", "dxsearch-api"))["readinessProbe"]["httpGet"]["path"] = "/ready"
    elif change == "writable index":
        for mount in _container(_get(docs, "Deployment", "dxsearch-api"))["volumeMounts"]:
            mount.pop("readOnly", None)
    elif change == "job index path":
        mounts = _container(_get(docs, "Job", "corpus-build"))["volumeMounts"]
        next(m for m in mounts if m["name"] == "index")["mountPath"] = "/index"
    elif change == "ordered start":
        _get(docs, "StatefulSet", "elasticsearch")["spec"]["podManagementPolicy"] = "OrderedReady"
    elif change == "unknown setting value":
        config["DXSEARCH_POLICY"] = "no-such-policy"
    return docs


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("es port", "DXSEARCH_ES_URL"),
        ("vllm service port", "DXSEARCH_LLM_BASE_URL"),
        ("initial masters", "cluster.initial_master_nodes"),
        ("audit user", "POSTGRES_USER"),
        ("readiness path", "readinessProbe"),
        ("writable index", "read-only"),
        ("job index path", "DXSEARCH_INDEX"),
        ("ordered start", "Parallel"),
        ("unknown setting value", "DXSEARCH_POLICY"),
    ],
)
def test_broken_kubernetes_manifests_fail(change: str, named: str) -> None:
    problems = k8s_problems(_k8s_with(change), load_kustomization())
    assert any(named in p for p in problems), problems


@pytest.mark.parametrize(
    ("analyzers", "named"),
    [
        ({"analyzer": "dxsearch_en_stem"}, "body: analyzer dxsearch_en_stem"),
        ({"analyzer": "whitespace", "search_analyzer": "english"}, "body: search_analyzer english"),
        ({}, "must name its analyzer"),
    ],
)
def test_a_mapping_that_needs_a_plugin_fails(analyzers: dict[str, str], named: str) -> None:
    from dxsearch.retrieval.elasticsearch import MAPPINGS

    mappings = copy.deepcopy(MAPPINGS)
    body = mappings["properties"]["body"]
    body.pop("analyzer")
    body.update(analyzers)
    problems = mapping_problems(mappings)
    assert any(named in p for p in problems), problems


@pytest.mark.parametrize(
    ("path", "added"),
    [
        ("deploy/compose/compose.yaml", "bin/elasticsearch-plugin install --batch file:///plugin/x.zip"),
        ("deploy/k8s/elasticsearch.yaml", "command:\n  - bin/elasticsearch-plugin\n  - install\n"),
        ("deploy/k8s/elasticsearch.yaml", "mountPath: /usr/share/elasticsearch/plugins\n"),
        ("deploy/README.md", "Run `deploy/compose/build-es-plugin.sh`.\n"),
        ("deploy/k8s/kustomization.yaml", "      - es-plugin/dxsearch-analysis.zip\n"),
    ],
)
def test_a_deployment_that_installs_a_plugin_fails(path: str, added: str) -> None:
    texts = reference_deployment_texts()
    texts[path] += added
    problems = plugin_mention_problems(texts)
    assert any(p.startswith(f"{path} ") for p in problems), problems
