"""Requests vs the partition's nodes (archopt.cluster), on hand-made sinfo output."""

from __future__ import annotations

from pathlib import Path

import yaml

from archopt.cluster import (
    Node,
    Request,
    gpu_mem_of,
    gpus_of,
    misfits,
    parse_sinfo,
    parse_time_limit,
    profile_requests,
)


def test_sinfo_lines_become_nodes_with_their_gpus_and_time_limits():
    text = "2|21694|gpu:fake:1|infinite\n64|512000+|gpu:a100:4(S:0-1)|2-00:00:00\n8|16000|(null)\n"
    assert parse_sinfo(text) == [
        Node(2, 21694, 1), Node(64, 512000, 4, 2880, 40_000), Node(8, 16000, 0),
    ]
    assert gpus_of("gpu:2,gpu:v100:1") == 3


def test_time_limits_in_every_sinfo_form():
    assert [parse_time_limit(t) for t in ("infinite", "UNLIMITED", "1-12:30:00", "4:00:00",
                                          "30:00", "45", "2-06")] == [None, None, 2190, 240, 30, 45, 3240]


def test_gpu_memory_is_known_only_from_the_gres_type():
    assert gpu_mem_of("gpu:a100_80g:4") == 80_000  # the name states it
    assert gpu_mem_of("gpu:tesla_v100:2(S:0)") == 16_000
    assert gpu_mem_of("gpu:l40s:8") == 48_000  # not an "l4"
    assert gpu_mem_of("gpu:v100:2,gpu:a100:2") == 16_000  # the smallest
    assert gpu_mem_of("gpu:4") is None and gpu_mem_of("gpu:fake:1") is None


def test_a_request_must_fit_one_node_with_all_its_resources():
    # Issue: a big CPU node and a small GPU node; each resource alone fits some node.
    nodes = parse_sinfo("64|256000|(null)\n4|8000|gpu:1\n")
    problems = misfits([Request("x", 2, 16000, 1)], nodes)
    assert len(problems) == 1
    assert "x would ask for 2 CPUs, 16000 MB, 1 GPU(s) together, but no node of the default " \
           "partition has all of them at once" in problems[0]
    assert "64 CPUs | 256000 MB | 0 GPU(s)" in problems[0] and "4 CPUs | 8000 MB | 1 GPU(s)" \
        in problems[0]
    assert misfits([Request("x", 2, 8000, 1), Request("y", 64, 200000, 0)], nodes) == []


def test_each_request_over_the_largest_node_is_named_with_its_profile_key():
    nodes = [Node(2, 20000, 1), Node(4, 8000, 0)]
    requests = [
        Request("a group job", cpus=4, where="`cores`"),
        Request("rule train", cpus=2, mem_mb=24000, gpus=2, where="`set-resources: train`"),
        Request("rule bench", cpus=1, mem_mb=4000),
    ]
    problems = misfits(requests, nodes, "gpu")
    assert problems == [
        "rule train would ask for 24000 MB of memory, but the largest node of partition 'gpu' "
        "has 20000 (sinfo); lower `set-resources: train` in workflow/profiles/slurm/config.yaml "
        "or on the command line",
        "rule train would ask for 2 GPUs, but the largest node of partition 'gpu' has 1 "
        "(sinfo); lower `set-resources: train` in workflow/profiles/slurm/config.yaml or on "
        "the command line",
    ]
    assert misfits(requests, [], None) == []  # no sinfo answer: nothing to compare with


def test_time_limits_and_gpu_memory_are_checked_where_known():
    nodes = parse_sinfo("32|256000|gpu:v100:4|1-00:00:00\n32|256000|gpu:4|1-00:00:00\n")
    group = Request("group job `short` (40 jobs of bench)", cpus=4, mem_mb=8000,
                    where="`group-components: short`", runtime_min=2500)
    assert misfits([group], nodes, "gpu") == [
        "group job `short` (40 jobs of bench) would ask for 2500 minutes, but the largest node "
        "of partition 'gpu' has 1440 (sinfo); lower `group-components: short` in "
        "workflow/profiles/slurm/config.yaml or on the command line",
    ]
    wide = Request("rule train", cpus=4, mem_mb=22000, gpus=1, gpu_mem_mb=25_228,
                   where="`set-resources: train`")
    # One GPU type is unknown (untyped GRES): its memory might suffice, nothing is claimed.
    assert misfits([wide], nodes, "gpu") == []
    only_v100 = parse_sinfo("32|256000|gpu:v100:4|1-00:00:00\n")
    assert misfits([wide], only_v100, "gpu") == [
        "rule train would ask for 25228 MB of GPU memory, but the largest node of partition "
        "'gpu' has 16000 (sinfo); train it at a smaller batch size (train.grid.batch_size) or "
        "in train.precision bf16, or submit to a partition with larger GPUs "
        "(default-resources: slurm_partition)",
    ]


def test_profile_requests_skip_expressions_only_a_job_can_evaluate():
    requests = profile_requests(
        4, {"train": {"gpu": 1, "cpus_per_gpu": 2}, "bench": {"runtime": None}},
        {"mem_mb": 4000},
    )
    assert [(r.job, r.cpus, r.mem_mb, r.gpus) for r in requests] == [
        ("a group job (e.g. `short`)", 4, None, 0),
        ("every job", 1, 4000, 0),
        ("rule train", 2, None, 1),
        ("rule bench", 1, None, 0),
    ]


def slurm_profile() -> dict:
    root = Path(__file__).resolve().parent.parent
    return yaml.safe_load((root / "workflow/profiles/slurm/config.yaml").read_text())


def test_benchmarks_are_submitted_alone_and_gpu_jobs_get_their_threads():
    profile = slurm_profile()
    # In a group job a benchmark would be timed beside other jobs (and two networks' CUDA
    # benchmarks would add up to --gpus=2): each is its own job, alone on its node.
    assert "bench" not in profile["groups"]
    assert "--exclusive" in profile["set-resources"]["bench"]["slurm_extra"]
    # --cpus-per-task is then the rule's threads (train.threads), not a cpus_per_gpu of its own.
    for rule, resources in profile["set-resources"].items():
        assert "cpus_per_gpu" not in resources, rule
