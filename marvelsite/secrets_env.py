"""Secrets from the environment or from files: NAME, or NAME_FILE naming a file that holds it.

The Docker and Kubernetes convention: a Secret mounted read-only as files never shows in the
process's environment (`/proc/<pid>/environ`, crash reports, `kubectl describe`).
"""

from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured


def secret(env: Mapping[str, str], name: str, default: str = "") -> str:
    """The value of `name`, read verbatim from env or from the file `<name>_FILE` names.

    One trailing newline is dropped (what `echo` and most editors add); nothing else is
    touched, so a value may hold spaces or start with "$".
    """
    file_name = f"{name}_FILE"
    path = env.get(file_name)
    if not path:
        return env.get(name, default)
    if env.get(name):
        raise ImproperlyConfigured(f"both {name} and {file_name} are set: set only one.")
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as error:
        raise ImproperlyConfigured(
            f"{file_name} names {path}, which cannot be read: {error.strerror}."
        ) from error
    return text.removesuffix("\n")
