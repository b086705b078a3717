"""Requests vs the partition's largest node (archopt.cluster), on hand-made sinfo output."""

from __future__ import annotations

from archopt.cluster import Node, Request, gpus_of, misfits, parse_sinfo, profile_requests


def test_sinfo_lines_become_nodes_with_their_gpus():
    text = "2|21694|gpu:fake:1\n64|512000+|gpu:a100:4(S:0-1)\n8|16000|(null)\n"
    assert parse_sinfo(text) == [Node(2, 21694, 1), Node(64, 512000, 4), Node(8, 16000, 0)]
    assert gpus_of("gpu:2,gpu:v100:1") == 3


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
