"""The casebook trigger-word network (default preset) in PyTorch, timed like
crates/trigger/benches/trigger.rs: Conv1d(101->196, k15, s4) + BN + ReLU +
dropout -> GRU(128) + dropout + BN -> GRU(128) + dropout + BN + dropout ->
Linear(1) per step; batch 8 x 5511 frames x 101 bins, BCE-with-logits, Adam,
same thread count. Prints the median training-step milliseconds and the
process's peak RSS as JSON.
"""
import json
import os
import resource
import statistics
import time

import torch
from torch import nn

threads = int(os.environ.get("BENCH_THREADS", os.cpu_count() or 1))
torch.set_num_threads(threads)
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self, bins=101, filters=196, hidden=128, dropout=0.2):
        super().__init__()
        self.conv = nn.Conv1d(bins, filters, 15, stride=4)
        self.conv_norm = nn.BatchNorm1d(filters)
        self.gru1 = nn.GRU(filters, hidden, batch_first=True)
        self.norm1 = nn.BatchNorm1d(hidden)
        self.gru2 = nn.GRU(hidden, hidden, batch_first=True)
        self.norm2 = nn.BatchNorm1d(hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):  # x: [batch, frames, bins]
        x = self.dropout(torch.relu(self.conv_norm(self.conv(x.transpose(1, 2))))).transpose(1, 2)
        x = self.norm1(self.dropout(self.gru1(x)[0]).transpose(1, 2)).transpose(1, 2)
        x = self.norm2(self.dropout(self.gru2(x)[0]).transpose(1, 2)).transpose(1, 2)
        return self.head(self.dropout(x)).squeeze(-1)


model = Net()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.BCEWithLogitsLoss()
x = torch.randn(8, 5511, 101)
y = (torch.rand(8, 1375) < 0.07).float()


def train_step():
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


for _ in range(2):
    train_step()
samples = []
for _ in range(8):
    t = time.perf_counter()
    train_step()
    samples.append((time.perf_counter() - t) * 1000)
print(json.dumps({
    "threads": threads,
    "train_step_ms": statistics.median(samples),
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
