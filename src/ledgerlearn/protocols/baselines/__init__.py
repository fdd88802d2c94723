"""Ledger-free baselines on the same data, partition and model as the ledger modes.

- `centralized`: one trainer on all providers' data pooled together;
- `fedavg`: FedAvg with a central server (McMahan et al. 2017), optionally a careful server
  that scores every client update on the validation data and drops those below the minimum;
- `gossip_learning`: gossip learning by random peer merging (Ormándi et al. 2013).
"""
