"""What a field's check needs from the rest of the reports file: its folder and its instances."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationInfo

from amc_reports.config.files import UnreadableFile, read_utf8

MAX_SQL_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DeclaredInstance:
    """What a report may refer to on an instance, read from the raw file before validation."""

    tags: frozenset[str] = frozenset()
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ValidationContext:
    """The folder of the reports file, the SQL folders allowed, and the instances declared.

    Read defensively from the raw document (a malformed part is simply absent here and reported
    by its own field), so that reports are checked against what the file declares even when a
    declaration has problems of its own.
    """

    base_dir: Path
    sql_folders: tuple[Path, ...] = ()
    instances: Mapping[str, DeclaredInstance] = field(default_factory=dict)
    sql_texts: dict[Path, str] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Mapping[str, Any], path: Path) -> ValidationContext:
        base_dir = path.parent
        folders = document.get("sql_folders")
        sql_folders = tuple(
            (base_dir / folder).resolve()
            for folder in (folders if isinstance(folders, list) else [])
            if isinstance(folder, str) and folder.strip() and "\0" not in folder
        )
        instances: dict[str, DeclaredInstance] = {}
        raw = document.get("instances")
        for alias, body in raw.items() if isinstance(raw, dict) else []:
            if not isinstance(alias, str):
                continue
            body = body if isinstance(body, dict) else {}
            tags = body.get("tags")
            parameters = body.get("parameters")
            instances[alias] = DeclaredInstance(
                tags=frozenset(t for t in tags if isinstance(t, str))
                if isinstance(tags, list)
                else frozenset(),
                parameters=parameters if isinstance(parameters, dict) else {},
            )
        return cls(base_dir=base_dir, sql_folders=sql_folders, instances=instances)

    def sql_path(self, value: str) -> Path:
        return (self.base_dir / value).resolve()

    def read_sql(self, value: str) -> str:
        """The text of `sql_file` (memoized); raises UnreadableFile with the reason."""
        if "\0" in value:
            raise UnreadableFile("is not a valid path (it holds a NUL character)")
        path = self.sql_path(value)
        allowed = (self.base_dir.resolve(), *self.sql_folders)
        if not any(path.is_relative_to(folder) for folder in allowed):
            raise OutsideProject(
                f"{value!r} is outside the project folder ({self.base_dir}): {path}. Move it "
                "into the project, or list its folder under 'sql_folders' at the top of the file"
            )
        if path not in self.sql_texts:
            self.sql_texts[path] = read_utf8(path, max_bytes=MAX_SQL_BYTES)
        return self.sql_texts[path]


class OutsideProject(UnreadableFile):
    """A `sql_file` outside the folders a reports file may read from."""


def context_of(info: ValidationInfo) -> ValidationContext:
    context = info.context
    if not isinstance(context, ValidationContext):
        raise TypeError("validate reports files with ReportsConfig.validate_document()")
    return context
