"""Checks every relative link of the README, the guide (docs/*.md) and the crates' READMEs: the file
it names exists, and its #anchor is a heading of that file (GitHub's slugs). Prints each broken link
as `file:line: target (why)` and exits 1 if there is one. Standard library only; `make test-python`
runs it.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def lines_outside_code(path: pathlib.Path):
    """(number, line) of every line of `path` outside fenced code blocks."""
    inside = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def anchors(path: pathlib.Path) -> set:
    """The anchors of the headings of `path`, with GitHub's -1, -2 suffixes for repeats."""
    seen, found = {}, set()
    for _, line in lines_outside_code(path):
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            found.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return found


def broken(path: pathlib.Path):
    """`(line, target, why)` for every broken relative link in `path`."""
    for number, line in lines_outside_code(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                yield number, target, "no such file"
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                yield number, target, f"no heading with anchor #{anchor} in {linked.name}"


def main() -> int:
    assert slug("CIFAR-10 (natural images)") == "cifar-10-natural-images"
    assert slug("Classification (`make reproduce-clip`)") == "classification-make-reproduce-clip"
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    pages += sorted(ROOT.glob("crates/*/README.md"))
    problems = [
        f"{page.relative_to(ROOT)}:{number}: {target} ({why})"
        for page in pages
        for number, target, why in broken(page)
    ]
    for problem in problems:
        print(f"check_links: {problem}", file=sys.stderr)
    links = sum(len(LINK.findall(line)) for page in pages for _, line in lines_outside_code(page))
    print(f"check_links: {links} links in {len(pages)} pages, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
