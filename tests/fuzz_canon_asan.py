"""Run the compiled reader and emitter under AddressSanitizer and UndefinedBehaviorSanitizer.

Not part of the test suite (it needs a sanitizer build and minutes); run by hand after any
change to tools/dangan/_canon.c:

    gcc -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -std=c11 -shared -fPIC \\
        -I"$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \\
        tools/dangan/_canon.c -o /tmp/asan/_canon.so
    ASAN_OPTIONS=detect_leaks=0 \\
    LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \\
    PYTHONPATH=tools:tests .venv/bin/python tests/fuzz_canon_asan.py /tmp/asan/_canon.so [VAULT]

Any memory error aborts with the sanitizer's report; "clean" at the end means none was found.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def main(library: str, vault: str | None) -> None:
    spec = importlib.util.spec_from_file_location("dangan._canon", library)
    assert spec is not None and spec.loader is not None
    canon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(canon)
    sys.modules["dangan._canon"] = canon
    from dangan.formats import yamlio

    canon.configure(yamlio._scalar, yamlio._NOT_STR.match)
    yamlio._canon = canon
    import test_canon as tc

    tc.canon = canon
    many = settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))

    @many
    @given(st.binary(max_size=500))
    def random_bytes(data: bytes) -> None:
        canon.parse(data)

    @many
    @given(tc.soup)
    def line_soup(lines: list[str]) -> None:
        tc._agrees("".join(lines))

    @many
    @given(st.one_of(tc.records, st.dictionaries(st.one_of(tc.keys, tc.edge_text), tc.edge_trees, min_size=1, max_size=6)))
    def trees(tree: dict) -> None:
        text = yamlio._dump_fast_py(tree)
        assert canon.emit(tree) == text
        if text and tree:
            assert tc.same(canon.parse(text.encode()), tree)

    random_bytes()
    line_soup()
    trees()
    if vault:
        files = subprocess.run(["git", "ls-files", "vault/"], cwd=vault, capture_output=True, text=True,
                               check=True).stdout.split()
        for rel in files:
            if rel.endswith(".yaml"):
                data = (Path(vault) / rel).read_bytes()
                tree = canon.parse(data)
                if tree is not None:
                    canon.emit(tree)
        print(f"{len(files)} files of {vault} read")
    print("clean")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
