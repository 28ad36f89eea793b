"""Benchmark: ClaimVault's discovery engine against presidio-analyzer on the seeded evaluation corpus, one run.

Run ``.venv/bin/python bench/discovery [--documents N] [--seed S] [--split test|train] [--json]``.

1. The corpus (``tests.discovery_corpus``, the frozen test templates by default) is generated and written to a
   temporary directory.
2. Accuracy, whole corpus: ClaimVault's ``scan_file`` runs over every file (every format); Presidio (pattern
   recognizers, no NLP model) over the decoded text of every text-like document, zip members included. Both are
   scored by ``tests.discovery_corpus.evaluate``: per type and micro precision, recall and F2 (per entity, the
   type required to match) and the hard-negative flag rate. Side by side on the text-like documents (what both
   engines read); ClaimVault alone on the whole corpus.
3. Throughput, per format, on the same files for both engines: a sample of up to ``--sample-kb`` per format
   (Presidio is slow), each engine's analysis repeated and the median round kept (see ``throughput.py``).
   Binary formats (xlsx, docx, pdf) and zip archives: ClaimVault only.
4. The single accuracy pass of step 2, timed over the top-level text-like files for both engines (a zip's time
   would include its binary members for ClaimVault only). One warm-up call per engine runs before any timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.*, bench.*

from bench.discovery.engines import (
    PRESIDIO_TO_OURS,
    Presidio,
    at_threshold,
    corpus_profile,
    run_ours,
    run_presidio,
    scan_one,
    text_leaves,
    text_like,
)
from bench.discovery.render import accuracy_table, speed_table, threshold_lines
from bench.discovery.throughput import measure_rates, text_total
from tests.discovery_corpus import evaluate, generate_corpus, write_corpus

PRESIDIO_THRESHOLDS = (0.0, 0.3, 0.5, 0.7)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/discovery", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=220, help="corpus documents (default 220)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("test", "train"), default="test")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--sample-kb", type=int, default=256, help="throughput sample per format (default 256)")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="ClaimVault timing per format")
    parser.add_argument("--presidio-min-seconds", type=float, default=2.0, help="Presidio timing per format")
    parser.add_argument(
        "--presidio-defaults-only",
        action="store_true",
        help="Presidio's default recognizers only (default: also its disabled US healthcare ones)",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    log = (lambda _msg: None) if args.json else (lambda msg: print(msg, file=sys.stderr, flush=True))
    started = time.perf_counter()
    documents = generate_corpus(split=args.split, seed=args.seed, documents=args.documents)
    leaves = text_leaves(documents)
    profile = corpus_profile()
    presidio = Presidio(defaults_only=args.presidio_defaults_only)
    total_bytes = sum(len(d.data) for d in documents)
    text_bytes = sum(len(d.data) for d in leaves)
    log(f"corpus: {len(documents)} documents ({args.split} split, seed {args.seed}), {total_bytes / 1e6:.2f} MB")

    with tempfile.TemporaryDirectory(prefix="claimvault-discovery-bench-") as tmp:
        root = Path(tmp)
        write_corpus(documents, root)
        warm_up = next(d for d in documents if text_like(d))  # one-time set-up (policy, word lists) is not speed
        scan_one(root, warm_up, profile)
        presidio.analyze(warm_up.text())
        log("accuracy: ClaimVault over every file ...")
        ours = run_ours(root, documents, profile)
        log(f"accuracy: Presidio over {len(leaves)} text-like documents ({text_bytes / 1e6:.2f} MB) ...")
        theirs = run_presidio(presidio, documents)
        log(f"throughput: up to {args.sample_kb} KB per format, both engines ...")
        rates = measure_rates(
            root=root,
            documents=documents,
            profile=profile,
            presidio=presidio,
            sample_bytes=args.sample_kb * 1024,
            min_seconds=args.min_seconds,
            presidio_min_seconds=args.presidio_min_seconds,
        )

    ours_found = at_threshold(ours.found)
    ours_text = evaluate(leaves, {p: ours_found.get(p, []) for p in (d.path for d in leaves)})
    ours_all = evaluate(documents, ours_found)
    theirs_by_threshold = {t: evaluate(leaves, at_threshold(theirs.found, t)) for t in PRESIDIO_THRESHOLDS}
    theirs_text = theirs_by_threshold[0.0]
    # the same documents for both engines: top-level text-like files (a zip's seconds would include its binary
    # members for ClaimVault while Presidio reads only its text members)
    text_docs = [d for d in documents if text_like(d)]
    single_pass = {
        "documents": len(text_docs),
        "bytes": sum(len(d.data) for d in text_docs),
        "ours_seconds": sum(ours.seconds[d.path] for d in text_docs),
        "presidio_seconds": sum(theirs.seconds[d.path] for d in text_docs),
    }
    elapsed = time.perf_counter() - started

    if args.json:
        out: dict[str, Any] = {
            "corpus": {"split": args.split, "seed": args.seed, "documents": len(documents), "bytes": total_bytes,
                       "text_like_documents": len(leaves), "text_like_bytes": text_bytes},
            "presidio": {"recognizers": presidio.recognizers, "entity_map": PRESIDIO_TO_OURS, "nlp_model": None},
            "accuracy": {
                "text_like": {"claimvault": ours_text.to_json(), "presidio": theirs_text.to_json()},
                "presidio_by_threshold": {str(t): r.to_json() for t, r in theirs_by_threshold.items()},
                "all_formats": {"claimvault": ours_all.to_json()},
            },
            "throughput": [
                {"format": r.format, "files": r.files, "bytes": r.bytes, "claimvault_mb_s": r.ours_mbs,
                 "presidio_mb_s": r.presidio_mbs, "ratio": r.ratio}
                for r in rates
            ],
            "single_pass_text_like": single_pass,
            "seconds": elapsed,
        }  # fmt: skip
        total = text_total(rates)
        out["throughput_text_like_ratio"] = None if total is None else total.ratio
        print(json.dumps(out, indent=2))
        return 0

    print(f"ClaimVault discovery vs presidio-analyzer. Corpus: {args.split} split, seed {args.seed}, "
          f"{len(documents)} documents, {total_bytes / 1e6:.2f} MB "
          f"({len(leaves)} text-like, {text_bytes / 1e6:.2f} MB)")  # fmt: skip
    print(f"Presidio: pattern recognizers, no NLP model (NoOpNlpEngine), score threshold 0 (its default): "
          f"{', '.join(presidio.recognizers)}")  # fmt: skip
    print()
    print("Accuracy on the text-like documents (both engines read the same decoded text):")
    try:
        print(accuracy_table(ours_text, theirs_text))
        print()
        print("Presidio at other score thresholds (text-like documents):")
        print(threshold_lines(theirs_by_threshold))
    except (KeyError, TypeError, AttributeError):  # a Report layout the side-by-side table does not know
        print("ClaimVault:\n" + ours_text.to_text() + "\n\nPresidio:\n" + theirs_text.to_text())
    print()
    print("ClaimVault on the whole corpus (every format, binary and zip included):")
    print(ours_all.to_text())
    print()
    print(f"Throughput (MB/s, median round over a sample of up to {args.sample_kb} KB per format, the same files "
          "for both engines; accuracy above used the whole corpus):")  # fmt: skip
    print(speed_table(rates, text_total(rates)))
    ratio = single_pass["presidio_seconds"] / single_pass["ours_seconds"] if single_pass["ours_seconds"] else 0.0
    single_mb = single_pass["bytes"] / 1e6
    print(
        f"single pass over the {single_pass['documents']} top-level text-like files ({single_mb:.2f} MB, the "
        f"accuracy runs): ClaimVault {single_mb / single_pass['ours_seconds']:.2f} MB/s, "
        f"Presidio {single_mb / single_pass['presidio_seconds']:.2f} MB/s, ratio {ratio:.1f}x"
    )
    print(f"run time {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
