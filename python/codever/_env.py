"""A run's environment as three small text files, for the artifact ``env/environment``:

- ``requirements.txt``: every installed distribution as ``name==version``, one per line, in the
  order and form ``pip freeze --all`` writes them (editable installs as ``-e PATH``, where pip
  asks git about a checkout and names its remote and commit; VCS and URL installs as
  ``name @ URL``);
- ``python.txt``: one ``key value`` line per fact: Python version and implementation, operating
  system, machine, and when installed the versions of torch (with its CUDA), cuDNN, jax and
  tensorflow (read from their metadata, never imported), and the GPUs and driver that
  ``nvidia-smi`` reports (skipped quietly when it is absent);
- ``command.txt``: the command line of the script (when known).
- ``environ.txt``, only for environment variables the user names: ``NAME=value`` lines.

Nothing else is read from the environment: variables often hold secrets.

It is fast (a few milliseconds: distributions are found by listing ``sys.path`` and reading the
first lines of each METADATA file, without importing ``importlib.metadata``) and it imports
nothing heavy. The same file runs as a script: ``python _env.py [--command TEXT] [NAME...]``
prints the files as JSON, which is how ``codever commit-env --python PATH`` captures another
interpreter's environment.
"""

import os
import sys

__all__ = ["capture"]


def _canonical(name):
    """PEP 503's normalised name: lower case, runs of ``-_.`` as one ``-``."""
    out = []
    for ch in name.lower():
        if ch in "-_.":
            if not out or out[-1] != "-":
                out.append("-")
        else:
            out.append(ch)
    return "".join(out)


def _header(path):
    """``Name`` and ``Version`` from the header of a METADATA or PKG-INFO file."""
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line in ("\n", "\r\n"):
                    break
                if line.startswith("Name:") and name is None:
                    name = line[5:].strip()
                elif line.startswith("Version:") and version is None:
                    version = line[8:].strip()
                if name is not None and version is not None:
                    break
    except OSError:
        return None
    return (name, version) if name and version else None


def _direct_url(dist_info):
    """The line ``pip freeze`` writes for a distribution installed from a path or URL, else
    None."""
    path = os.path.join(dist_info, "direct_url.json")
    if not os.path.isfile(path):
        return None
    import json

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        url = data["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (data.get("dir_info") or {}).get("editable"):
        return "-e " + (url[len("file://") :] if url.startswith("file://") else url)
    vcs = data.get("vcs_info")
    if vcs:
        commit = vcs.get("commit_id")
        return "{vcs}+{url}{at}".format(vcs=vcs.get("vcs", "git"), url=url, at=f"@{commit}" if commit else "")
    if "archive_info" in data and url.startswith("file://"):
        return None  # a local wheel or sdist: pip freeze prints name==version
    return url


def _distributions():
    """``{canonical name: (name, version, direct line or None, location)}``; the first found on
    ``sys.path`` wins, as for imports."""
    found = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.endswith(".dist-info"):
                meta = os.path.join(entry, n, "METADATA")
            elif n.endswith(".egg-info"):
                p = os.path.join(entry, n)
                meta = os.path.join(p, "PKG-INFO") if os.path.isdir(p) else p
            else:
                continue
            got = _header(meta)
            if got is None:
                continue
            key = _canonical(got[0])
            if key in found:
                continue
            direct = _direct_url(os.path.join(entry, n)) if n.endswith(".dist-info") else None
            found[key] = (got[0], got[1], direct, entry)
    return found


def requirements(dists=None):
    dists = _distributions() if dists is None else dists
    lines = []
    # pip freeze's order: by the name in lower case (`typing-inspection` before
    # `typing_extensions`).
    for name, version, direct, _ in sorted(dists.values(), key=lambda d: d[0].lower()):
        if direct is None:
            lines.append(f"{name}=={version}")
        elif direct.startswith("-e "):
            lines.append(direct)
        else:
            lines.append(f"{name} @ {direct}")
    return "".join(line + "\n" for line in lines)


def _torch_cuda(dists):
    """torch's CUDA version from its ``torch/version.py`` (``cuda = '12.1'``), without
    importing torch."""
    torch = dists.get("torch")
    if torch is None:
        return None
    try:
        with open(os.path.join(torch[3], "torch", "version.py"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("cuda"):
                    value = line.split("=", 1)[1].strip().strip("'\"")
                    return None if value in ("", "None") else value
    except (OSError, IndexError):
        return None
    return None


def _gpus():
    """``(index, name)`` of each GPU and the driver version, from ``nvidia-smi`` when it is on
    PATH; nothing (quietly) otherwise."""
    exe = None
    for d in os.get_exec_path():
        p = os.path.join(d, "nvidia-smi")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            exe = p
            break
    if exe is None:
        return [], None
    import subprocess

    try:
        out = subprocess.run(
            [exe, "--query-gpu=index,name,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return [], None
    if out.returncode != 0:
        return [], None
    gpus, driver = [], None
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            gpus.append((parts[0], parts[1]))
            driver = parts[2]
    return gpus, driver


def system(dists=None):
    dists = _distributions() if dists is None else dists
    v = sys.version_info
    version = f"{v.major}.{v.minor}.{v.micro}"
    if v.releaselevel != "final":
        version += f"{v.releaselevel[0] if v.releaselevel != 'candidate' else 'rc'}{v.serial}"
    u = os.uname() if hasattr(os, "uname") else None
    lines = [
        f"python {version}",
        f"implementation {sys.implementation.name}",
        f"os {u.sysname} {u.release}" if u else f"os {sys.platform}",
        f"machine {u.machine}" if u else None,
    ]
    for key, label in (("torch", "torch"), ("jax", "jax"), ("jaxlib", "jaxlib"), ("tensorflow", "tensorflow")):
        if key in dists:
            lines.append(f"{label} {dists[key][1]}")
            if key == "torch":
                cuda = _torch_cuda(dists)
                if cuda:
                    lines.append(f"torch.cuda {cuda}")
    for key in ("nvidia-cudnn-cu12", "nvidia-cudnn-cu11"):
        if key in dists:
            lines.append(f"cudnn {dists[key][1]}")
            break
    gpus, driver = _gpus()
    for index, name in gpus:
        lines.append(f"gpu{index} {name}")
    if driver:
        lines.append(f"nvidia-driver {driver}")
    return "".join(line + "\n" for line in lines if line)


def command():
    """The script's command line, shell-quoted, with the interpreter named by its basename (so
    the same command in two virtualenvs reads the same)."""
    import shlex

    argv = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
    if not argv:
        return None
    argv[0] = os.path.basename(argv[0])
    return shlex.join(argv) + "\n"


def capture(keep=(), command_line=True):
    """The environment files as ``{name: text}`` (see the module's documentation). ``keep``:
    names of environment variables to record (those set). ``command_line``: True for this
    process's command line, a string for another, False for none."""
    dists = _distributions()
    files = {"requirements.txt": requirements(dists), "python.txt": system(dists)}
    if command_line is True:
        text = command()
    elif command_line:
        text = str(command_line).rstrip("\n") + "\n"
    else:
        text = None
    if text:
        files["command.txt"] = text
    kept = sorted((k, os.environ[k]) for k in set(keep) if k in os.environ)
    if kept:
        files["environ.txt"] = "".join(f"{k}={v}\n" for k, v in kept)
    return files


def _main(argv):
    import json

    command_line = False
    names = []
    args = iter(argv)
    for a in args:
        if a == "--command":
            command_line = next(args, "")
        else:
            names.append(a)
    json.dump(capture(keep=names, command_line=command_line), sys.stdout, sort_keys=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
