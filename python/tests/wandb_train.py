"""A training script as a W&B user writes it: argparse config, `wandb.config`, a loop calling
`wandb.log`, code artifacts, `log_code`, and an evaluation stage reading an artifact back.

`test_wandb_compat.py` runs it under the real `wandb` package (offline) and, with only the
import line changed to `import codever as wandb`, under codever, and compares every value it
writes to --out. It imports nothing from the tests: it is the user's script.
"""

import argparse
import json
import math
import os

import wandb


def plain(value):
    """A summary value as JSON (W&B's summary holds sub-dicts for define_metric keys)."""
    if hasattr(value, "keys"):
        return {k: plain(value[k]) for k in value.keys()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def train(args):
    run = wandb.init(
        project="safelife",
        config=args,
        config_exclude_keys=["out", "stage"],
        name=f"ppo-lr{args.lr}",
        job_type="train",
        group="lr-sweep",
        tags=["ppo", "baseline"],
        notes="first try",
    )
    config = wandb.config
    config.update({"batch_size": 64})
    config.gamma = 0.99
    config.setdefaults({"epochs": 1000, "clip": 0.2})
    wandb.define_metric("reward", summary="max,last")
    reward = 0.0
    for epoch in range(config.epochs):
        loss = 1.0 / (epoch + 1) + config.lr
        reward = round(math.tanh(epoch * config["lr"] * 500), 6)
        wandb.log({"epoch": epoch, "loss": loss, "reward": reward})
    wandb.log({"eval/accuracy": 0.75}, step=run.step + 5)
    run.summary["final_reward"] = reward
    wandb.summary.update({"best_epoch": config.epochs - 1})

    code = wandb.Artifact("ppo", type="rl_algo_code", description="PPO", metadata={"lr": config.lr})
    entry = code.add_file("training/ppo.py")
    code.add_file("training/ppo.py")  # the same file twice is one file
    code.add_dir("training", name="training")
    draft = {"name": code.name, "type": code.type, "digest": code.digest,
             "entry": [entry.path, entry.digest, entry.size],
             "entries": {p: [e.digest, e.size] for p, e in code.manifest.entries.items()}}
    run.log_artifact(code, aliases="best", tags=["rl"])
    model = wandb.Artifact("model_code", type="model_code")
    model.add_file("training/models.py", name="models.py")
    with model.new_file("hparams.json") as f:
        json.dump({k: config[k] for k in sorted(config.keys())}, f, sort_keys=True)
    wandb.log_artifact(model)
    dqn = run.log_artifact("training/dqn.py", name="dqn", type="rl_algo_code", aliases=["candidate"])
    source = run.log_code(".")
    out = {
        "run": {
            "name": run.name, "project": run.project, "job_type": run.job_type,
            "group": run.group, "tags": list(run.tags), "notes": run.notes,
            "entity": run.entity, "path_is_project_and_id": run.path == f"{run.project}/{run.id}",
            "step": run.step, "dir_exists": os.path.isdir(run.dir),
        },
        "config": {k: config[k] for k in config.keys()},
        "config_attrs": [config.lr, config["epochs"], config.get("missing", "default"),
                         "lr" in config, config.batch_size],
        "summary": {k: plain(run.summary[k]) for k in sorted(run.summary.keys())
                    if k not in ("_runtime", "_timestamp")},
        "summary_reads": [run.summary["loss"], wandb.summary["final_reward"],
                          plain(run.summary.get("reward")), run.summary.get("nope", -1)],
        "code": draft,
        "logged": {"digest": code.digest, "type": code.type, "description": code.description,
                   "metadata": code.metadata},
        "model": {"name": model.name, "digest": model.digest,
                  "entries": sorted(model.manifest.entries)},
        "dqn": {"name": dqn.name, "type": dqn.type, "digest": dqn.digest},
        "source": {"name": source.name, "type": source.type, "digest": source.digest,
                   "entries": sorted(source.manifest.entries)},
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    wandb.finish()


def evaluate(args):
    """Reads the trained code back. W&B needs its server for this (offline, `use_artifact`
    raises), so the test runs this stage under codever only and checks the files against what
    W&B logged."""
    run = wandb.init(project="safelife", job_type="eval")
    code = run.use_artifact("safelife/ppo:best")
    root = code.download()
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            path = os.path.join(dirpath, n)
            files[os.path.relpath(path, root)] = open(path, "rb").read().decode()
    models = run.use_artifact("model_code:latest", type="model_code")
    entry_path = models.get_entry("models.py").download()
    with open(models.get_entry("hparams.json").download()) as f:
        hparams = json.load(f)
    dqn = wandb.use_artifact("user/safelife/dqn:candidate")
    out = {
        "code": {"name": code.name, "version": code.version, "aliases": code.aliases,
                 "tags": code.tags, "digest": code.digest, "files": files,
                 "listed": [[f.name, f.size] for f in code.files()]},
        "models": {"name": models.name, "entry": open(entry_path).read(), "hparams": hparams},
        "dqn": {"file": open(dqn.file()).read(), "logged_by_train": dqn.logged_by().job_type},
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    wandb.finish()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stage", choices=["train", "eval"], default="train")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    train(args) if args.stage == "train" else evaluate(args)
