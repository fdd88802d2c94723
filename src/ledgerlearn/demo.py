"""The demo behind `ledgerlearn demo`: the learning scenario on the embedded ledger.

A publisher, 3 committee members and 6 providers (2 of them malicious: label flipping and
random weights) learn a digits classifier twice on one ledger, once federation-style and once
gossip-style. Results land in OUT: ``summary.json`` (verdicts, accuracy, ledger figures and the
audit), the ledger copies in ``ledger/`` and the content store in ``store/``.
"""

from __future__ import annotations

from pathlib import Path

import click


def run_demo(out_dir: str) -> None:
    """Run the demo scenario and leave its results in `out_dir`."""
    import torch
    from tqdm import tqdm

    from ledgerlearn.roles.scenario import ScenarioConfig, run_scenario

    out = Path(out_dir)
    if (out / "ledger").exists() or (out / "store").exists():
        raise click.ClickException(
            f"{out} already holds the ledger of an earlier run; choose another --out or "
            f"remove {out / 'ledger'} and {out / 'store'}"
        )
    torch.set_num_threads(1)
    config = ScenarioConfig(modes=("federation", "gossip"))
    with tqdm(total=config.steps(), desc="demo", unit="step") as bar:

        def progress(message: str) -> None:
            bar.set_postfix_str(message)
            bar.update(1)

        result = run_scenario(out, config, progress=progress)
    updates = result.summary["updates"]
    ledger = result.summary["ledger"]
    click.echo(
        f"updates: {updates['verified']} verified, {updates['rejected']} rejected "
        f"({updates['malicious_rejected']} of {updates['malicious_total']} malicious, "
        f"{updates['honest_rejected']} honest)"
    )
    for model_id, figures in result.summary["models"].items():
        click.echo(f"{model_id}: held-out accuracy {figures['held_out_accuracy']:.3f}")
    click.echo(
        f"ledger: {ledger['height']} blocks, {ledger['transactions']} transactions, "
        f"audit {ledger['audit']}"
    )
    click.echo(f"summary: {out / 'summary.json'}")
