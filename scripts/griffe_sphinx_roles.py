"""A griffe extension for the documentation site: Sphinx roles in docstrings read as code.

The package's docstrings use ``:class:`Name```, ``:meth:`Name.method``` and friends (IDEs show
them well); Markdown would show the role literally. This turns each into a code span
(``~pkg.Name`` becomes ``Name``, as in Sphinx). Loaded by mkdocs.yml (mkdocstrings ``extensions``, as ``scripts.griffe_sphinx_roles``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`~?([^`]+)`")


def plain(text: str) -> str:
    """``:class:`~a.B``` -> ```B```; ``:meth:`C.d``` -> ```C.d```."""
    return ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1] if m.group(0).count('~') else m.group(1)}`", text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = plain(obj.docstring.value)
