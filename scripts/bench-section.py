"""Puts one section into docs/benchmarks.md, before the notes: replaces the section of the same
title if there is one. Usage: bench-section.py TITLE SECTION_TEXT (the text starts with
"## TITLE")."""
import re
import sys

title, section = sys.argv[1], sys.argv[2].strip() + "\n\n"
path = "docs/benchmarks.md"
text = open(path).read()
text = re.sub(r"## " + re.escape(title) + r".*?\n.*?(?=^## |\Z)", "", text, flags=re.S | re.M)
if "\n## Notes" in text:
    text = text.replace("\n## Notes", "\n" + section + "## Notes", 1)
else:
    text = text.rstrip("\n") + "\n\n" + section
open(path, "w").write(text)
