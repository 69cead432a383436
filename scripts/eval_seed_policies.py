"""Issue 13 section 5: round-robin, predictive-realloc, ahmo, anneal per scenario (usage: TASKS SEEDS SCENARIOS)."""
import json, sys, time
from dataclasses import replace
from qstream.backends.fleet import fleet_specs
from qstream.sim.experiment import prepare, run_policy
from qstream.sim.metrics import mean_ci95
from qstream.report import SCENARIOS
tasks=int(sys.argv[1]); seeds=int(sys.argv[2]); names=sys.argv[3].split(",")
pols=["round-robin","predictive-realloc","ahmo","anneal"]
rows=[]
for sc in SCENARIOS:
    if sc.name not in names: continue
    for seed in range(seeds):
        run = prepare(replace(sc, tasks=tasks), fleet_specs(), seed)
        for p in pols:
            row, res = run_policy(run, p)
            row["batch_ms"] = res.batch_ms
            rows.append(row)
            m=row["metrics"]
            print(sc.name, seed, p, round(m["throughput_tasks_per_s"],5), round(m["jct_mean_s"],1), round(m["error_rate_mean"],4), round(res.wall_s,1), flush=True)
json.dump(rows, open(sys.argv[4] if len(sys.argv) > 4 else "seed_policies.json", "w"))
