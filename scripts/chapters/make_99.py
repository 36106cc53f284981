"""Author notebooks/99_results.ipynb: the page that gathers every chapter's measured results."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.nbtools import code, md, setup, write  # noqa: E402

cells = [
md("""
# Results at a glance

Every experiment of the book saves what it measured, with the environment that produced it,
while the book is built. This page gathers those numbers: nothing on it is typed in. It is built
last, so it shows the results of this very build.

**Learning objectives.** After this page you can

- find the headline number of every experiment and the protocol behind it;
- compare them with what the paper reports, knowing which comparisons are fair;
- tell from the environment table which mode, versions and hardware produced each number.
"""),
setup(),
code("""
import pandas as pd
from IPython.display import Markdown

import utils
from utils import results
"""),
code("""
env = utils.setup()
"""),
md("""
## What the paper reports

The paper's two experiments each used one random 80/20 split of the 253 brain MRI images, so
about 51 test images, with no repetition and with duplicate images free to fall on both sides.
"""),
code("""
paper = pd.DataFrame(results.PAPER)
paper
"""),
md("""
## What this book measured

One row per experiment and headline metric, read from the files the chapters saved during this
build. Cross-validated values are means over the folds with the t-interval of that mean (cut at
0 and 1); single proportions carry a Wilson interval. The `paper reports` column puts the
paper's figure next to the experiment that repeats it; the `mode` column says whether the
number comes from the full build (`full`, the book's numbers) or a quick test run (`quick`, not
a result). Each chapter has the details: spreads over folds, confusion matrices, paired tests.
"""),
code("""
saved = results.load_all()
print(f"saved results found: {', '.join(saved) or 'none'}")
tables = results.section_tables(saved)   # one table per section; "–" where there is no interval
if not tables:
    print("No chapter has saved results yet: build the book (the chapters run before this page).")
for section, shown in tables.items():
    display(Markdown(f"**{section}**"))
    display(shown.style.hide(axis="index"))
"""),
md("""
The paper's two brain MRI figures next to this book's models: each of the paper's numbers
rests on about 51 test images, so its Wilson interval is wide. The book's rows are grouped
cross-validation over the brain MRI set, except the row labelled "paper's CNN, paper's
protocol": it repeats the paper's random 80/20 split several times (duplicates free to straddle
it) to show what that protocol gives, and is not one of the book's own estimates. In the table
above, "–" marks a row for which no interval was computed.
"""),
code("""
fig = results.plot_brain_accuracy(saved)
if fig is None:
    print("No brain MRI result was saved in this build.")
"""),
md("""
Every other number a chapter saved (per-fold values, secondary metrics) is in
`_build/results/<name>.json`; `results.headline_table()` lists all saved metrics.

## Where the numbers came from
"""),
code("""
results.environment_table(saved)
"""),
md("""
## Summary

- The paper's figures come from one split of about 51 images. This book's classification
  results come from grouped cross-validation (by near-duplicate group for the brain MRIs, by
  patient for the chest X-rays); its segmentation results from one grouped held-out set each.
  Duplicates and patients stay on one side of every such split; the only random splits are the
  repeats of the paper's protocol, shown to expose what that protocol gives.
- A higher number is not automatically a better model: compare protocols before comparing values.
- Every number on this page was produced by this build, in the mode and environment shown above.
"""),
]

write("notebooks/99_results.ipynb", cells, kind="page", always_execute=True)
