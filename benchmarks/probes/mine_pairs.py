"""Probe: mine sentence pairs for a pair task from its train split with the teacher's sentence embeddings."""
import json, sys, random
import numpy as np, torch
from transformers import AutoModel, AutoTokenizer
from distill.teachers import resolve_model

spec_dir, out, k, n_random = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(1)
rows = [json.loads(l) for l in open(f"{spec_dir}/train.jsonl")]
pool = sorted({r[c] for r in rows for c in ("text1", "text2")})
path = resolve_model("minilm-l6")
tok = AutoTokenizer.from_pretrained(path); model = AutoModel.from_pretrained(path).eval()
embs = []
with torch.inference_mode():
    order = np.argsort([len(s) for s in pool])
    for i in range(0, len(pool), 128):
        batch = [pool[j] for j in order[i:i + 128]]
        enc = tok(batch, padding=True, truncation=True, max_length=128, return_tensors="pt")
        h = model(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        embs.append((order[i:i + 128], e))
E = torch.zeros(len(pool), embs[0][1].shape[1])
for idx, e in embs: E[torch.as_tensor(idx)] = e
sims = E @ E.T
sims.fill_diagonal_(-2)
top = sims.topk(k, dim=-1).indices.tolist()
rng = random.Random(0)
pairs = set()
for i, s in enumerate(pool):
    for j in top[i]:
        pairs.add((s, pool[j]))
    for _ in range(n_random):
        pairs.add((s, pool[rng.randrange(len(pool))]))
pairs = sorted(pairs); rng.shuffle(pairs)
with open(out, "w") as f:
    for a, b in pairs:
        f.write(f"{' '.join(a.split())}\t{' '.join(b.split())}\n")
print(len(pool), "sentences", len(pairs), "pairs")
