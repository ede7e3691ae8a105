"""ollama-gate: turn Linux hosts into authenticated Ollama endpoints with pyinfra."""

from pathlib import Path

import jinja2

PROJECT_DIR = Path(__file__).resolve().parent.parent
# What is rendered (Jinja2) lives in templates/; what is uploaded as it is, in files/.
TEMPLATES_DIR = PROJECT_DIR / "templates"
FILES_DIR = PROJECT_DIR / "files"

# The one Jinja environment: a missing variable is an error, never an empty string.
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,
)
