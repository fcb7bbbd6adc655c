#!/usr/bin/env python3
"""Keeps the workspace's shape as ARCHITECTURE.md states it.

1. Dependencies between the workspace's crates: each may depend only on the crates its row of
   ALLOWED names (ARCHITECTURE.md, "Which crate may depend on which"). Dev-dependencies may
   also use the crates of ALLOWED_IN_TESTS, to feed data the way production does.
2. Source files stay under MAX_LINES lines, except those in LONG_FILES, each with its reason.

Reads `cargo metadata`; exits 1 and names every violation.
"""

import json
import pathlib
import subprocess
import sys

ALLOWED = {
    "fluoro-proto": set(),
    "fluoro-collector": {"fluoro-proto"},
    "fluoro-store": {"fluoro-proto"},
    "fluoro-analyzer": {"fluoro-proto", "fluoro-store"},
    "fluoro-ui": {"fluoro-proto", "fluoro-store", "fluoro-analyzer"},
    "fluoro-cli": {"fluoro-proto", "fluoro-collector", "fluoro-store", "fluoro-analyzer", "fluoro-ui", "fluoro-demo-services"},
    "fluoro-benches": {"fluoro-proto", "fluoro-collector", "fluoro-store", "fluoro-analyzer", "fluoro-ui"},
    "fluoro-demo-services": {"fluoro-proto"},
}

ALLOWED_IN_TESTS = {
    # The ui's tests write spans into a store through the collector's Ingest and X-Ray routes.
    "fluoro-ui": {"fluoro-collector"},
}

MAX_LINES = 800

# Files allowed over MAX_LINES, relative to the workspace root, each with why.
LONG_FILES = {
}

SOURCE_SUFFIXES = {".rs", ".js", ".css", ".html", ".py"}
SKIPPED_DIRECTORIES = {"target", "vendor", ".git", "node_modules"}


def dependency_violations(metadata):
    members = {package["id"]: package for package in metadata["packages"] if package["id"] in metadata["workspace_members"]}
    names = {package["name"] for package in members.values()}
    violations = []
    for package in members.values():
        name = package["name"]
        if name not in ALLOWED:
            violations.append(f"{name}: not in ALLOWED of .ci/check_architecture.py; add its row there and in ARCHITECTURE.md")
            continue
        for dependency in package["dependencies"]:
            target = dependency["name"]
            if target not in names or target == name:
                continue
            allowed = ALLOWED[name]
            if dependency.get("kind") == "dev":
                allowed = allowed | ALLOWED_IN_TESTS.get(name, set())
            if target not in allowed:
                kind = dependency.get("kind") or "normal"
                violations.append(f"{name} depends on {target} ({kind}); ARCHITECTURE.md forbids it")
    return violations


def long_files(root):
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIPPED_DIRECTORIES for part in relative.parts) or path.suffix not in SOURCE_SUFFIXES:
            continue
        if not path.is_file():
            continue
        lines = sum(1 for _ in path.open(encoding="utf-8", errors="replace"))
        if lines > MAX_LINES and str(relative) not in LONG_FILES:
            found.append(f"{relative}: {lines} lines (over {MAX_LINES}); split it by concept or list it in LONG_FILES with a reason")
    return found


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--locked"],
            cwd=root, check=True, capture_output=True, text=True,
        ).stdout
    )
    violations = dependency_violations(metadata) + long_files(root)
    for violation in violations:
        print(f"architecture: {violation}", file=sys.stderr)
    if violations:
        sys.exit(1)
    print("architecture: crate dependencies and file sizes as ARCHITECTURE.md states")


if __name__ == "__main__":
    main()
