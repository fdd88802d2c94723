"""Privacy of the data behind the weights: DP-SGD training, its accounting, and an attack.

| module | what it holds |
|---|---|
| `accounting.py` | `epsilon_spent`: the RDP accountant of Opacus as a pure function (no torch) |
| `dpsgd.py` | `PrivacyConfig`, `train_private`: DP-SGD with Opacus (per-sample clipping, noise) |
| `membership.py` | `loss_threshold_attack`: the membership-inference attack of Yeom et al. 2018 |

Importing this package imports no torch (the contract uses `accounting`).
"""
