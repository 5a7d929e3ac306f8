#!/usr/bin/env python3
"""Rebuild crates/providers/data/prices.json, modelgate's embedded price catalogue.

The source is litellm's MIT-licensed price map (`model_prices_and_context_window_backup.json`),
taken from a downloaded litellm wheel or from that JSON file itself. Only what modelgate needs is
kept: the runtime types modelgate serves, chat / completion / embedding / image models, and the
per-token, per-request and per-image prices in USD. Prices are facts; no litellm code is used.

    pip download --no-deps litellm==1.110.2 -d /tmp/litellm
    python3 scripts/refresh-prices.py /tmp/litellm/litellm-1.110.2-*.whl

A JSON file needs the version given: `--version 1.110.2`. Python 3 standard library only.
"""

import argparse
import datetime
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

MEMBER = "litellm/model_prices_and_context_window_backup.json"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "crates/providers/data/prices.json"

# litellm's `litellm_provider` -> (modelgate runtime type, the key prefix litellm puts before the
# provider's own model name). Every `vertex_ai-*` provider (Gemini, Claude, Mistral, Llama ... on
# Vertex AI) is Vertex.
PROVIDERS = {
    "openai": ("openai", "openai/"),
    "text-completion-openai": ("openai", "openai/"),
    "anthropic": ("anthropic", "anthropic/"),
    "gemini": ("gemini", "gemini/"),
    "mistral": ("mistral", "mistral/"),
    "deepseek": ("deepseek", "deepseek/"),
    "cohere": ("cohere", "cohere/"),
    "cohere_chat": ("cohere", "cohere/"),
    "cerebras": ("cerebras", "cerebras/"),
    "xai": ("xai", "xai/"),
    "groq": ("groq", "groq/"),
    "azure": ("azure-openai-service", "azure/"),
    "azure_text": ("azure-openai-service", "azure/"),
    "azure_ai": ("azure-ai-inference", "azure_ai/"),
    "huggingface": ("huggingface", "huggingface/"),
}
VERTEX = ("vertexai", "vertex_ai/")

# Kinds of model kept: what modelgate's endpoints serve (chat, completions, embeddings, images).
MODES = {"chat", "responses", "completion", "embedding", "image_generation"}

# litellm field -> our field, all USD. The first field present wins for a name listed twice.
FIELDS = [
    ("input_cost_per_token", "input"),
    ("output_cost_per_token", "output"),
    ("cache_read_input_token_cost", "cacheRead"),
    ("cache_creation_input_token_cost", "cacheWrite"),
    ("input_cost_per_request", "perRequest"),
    ("input_cost_per_query", "perRequest"),
    ("output_cost_per_image", "perImage"),
]

# litellm keys that are not names a provider accepts: image quality/size variants
# (`hd/1024-x-1792/dall-e-3`) and Azure's regional price lists (`azure/eu/gpt-4o`).
NOT_A_MODEL_NAME = re.compile(
    r"^((low|medium|high|standard|hd)/)?\d+-x-\d+/|^(eu|us|global|global-standard|apac|data-zone|us-gov)/"
)


def runtime_type(provider):
    """(runtime type, litellm's key prefix) of a litellm provider, or None when modelgate has none."""
    if provider in PROVIDERS:
        return PROVIDERS[provider]
    if isinstance(provider, str) and (provider == "vertex_ai" or provider.startswith("vertex_ai-")):
        return VERTEX
    return None


def price_of(entry):
    price = {}
    # An image model's output tokens are image tokens (gpt-image-1: `usage.output_tokens`); where
    # litellm gives neither a text output price nor a per-image price, the image token price is
    # the output price (with a per-image price, images are priced per image, not twice).
    no_output_price = "output_cost_per_token" not in entry and "output_cost_per_image" not in entry
    if entry.get("mode") == "image_generation" and no_output_price:
        entry = {**entry, "output_cost_per_token": entry.get("output_cost_per_image_token")}
    for field, ours in FIELDS:
        value = entry.get(field)
        if ours in price or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value < 0:
            raise SystemExit(f"negative price {field}={value}")
        price[ours] = value
    return price


def build(source):
    catalogue = {}
    # An exact name beats the same name reached by stripping a prefix (`deepseek-chat` and
    # `deepseek/deepseek-chat`): rank 0 for unprefixed keys, 1 for stripped ones.
    ranks = {}
    for key in sorted(source):
        entry = source[key]
        if not isinstance(entry, dict) or key == "sample_spec":
            continue
        if "alias_of" in entry and isinstance(source.get(entry["alias_of"]), dict):
            entry = {**source[entry["alias_of"]], **{k: v for k, v in entry.items() if k != "alias_of"}}
        target = runtime_type(entry.get("litellm_provider"))
        if target is None or entry.get("mode") not in MODES:
            continue
        rtype, prefix = target
        name = key[len(prefix):] if key.startswith(prefix) else key
        if NOT_A_MODEL_NAME.search(name):
            continue
        price = price_of(entry)
        if not price:
            continue
        rank = 0 if name == key else 1
        models = catalogue.setdefault(rtype, {})
        if name in models and ranks[(rtype, name)] <= rank:
            continue
        models[name] = price
        ranks[(rtype, name)] = rank
    return catalogue


def write(path, header, catalogue):
    """One model per line, everything sorted: a refresh's diff shows exactly the prices that moved."""
    compact = {"separators": (",", ":"), "sort_keys": True}
    lines = ["{", f'"source":{json.dumps(header, **compact)},', '"prices":{']
    types = sorted(catalogue)
    for i, rtype in enumerate(types):
        lines.append(f"{json.dumps(rtype)}:{{")
        models = sorted(catalogue[rtype])
        for j, name in enumerate(models):
            comma = "," if j + 1 < len(models) else ""
            lines.append(f"{json.dumps(name)}:{json.dumps(catalogue[rtype][name], **compact)}{comma}")
        lines.append("}," if i + 1 < len(types) else "}")
    lines += ["}", "}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_source(path, version):
    if path.suffix == ".whl":
        wheel = re.match(r"litellm-([^-]+)-", path.name)
        if wheel is None:
            raise SystemExit(f"{path}: not a litellm wheel")
        if version and version != wheel.group(1):
            raise SystemExit(f"{path} is litellm {wheel.group(1)}, not {version}")
        with zipfile.ZipFile(path) as archive:
            return archive.read(MEMBER), wheel.group(1)
    if not version:
        raise SystemExit("a JSON file needs --version (the litellm version it comes from)")
    return path.read_bytes(), version


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a litellm wheel (.whl) or its price JSON file")
    parser.add_argument("--version", help="litellm version (read from a wheel's name)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    parser.add_argument("--date", help="generation date, YYYY-MM-DD (default: today, UTC)")
    args = parser.parse_args()

    raw, version = read_source(args.source, args.version)
    header = {
        "name": "litellm model_prices_and_context_window_backup.json",
        "url": "https://github.com/BerriAI/litellm",
        "version": version,
        "licence": "MIT (outside litellm's enterprise/ directory), Copyright (c) 2023 Berri AI; see NOTICE",
        "sha256": hashlib.sha256(raw).hexdigest(),
        "generated": args.date or datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        "units": "USD per token (input, output, cacheRead, cacheWrite), per request, per image",
    }
    catalogue = build(json.loads(raw))
    write(args.out, header, catalogue)
    count = sum(len(models) for models in catalogue.values())
    size = args.out.stat().st_size
    print(f"{args.out}: {count} models, {len(catalogue)} runtime types, {size} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
