"""A post-training method as a researcher would write it (not shipped with archopt):
``fp16`` stores the ONNX export's weights in half precision (a Cast back to float32 in
front of each), halving the deployable file, and times it against the fp32 export in the
runtime ``model.onnx`` is deployed to. One file: the method, its run and its verdict."""

from __future__ import annotations

import shutil

from archopt.posttrain import PostTrainMethod, compare_outcomes, register_posttrain_method

MAX_DROP = 0.5  # accuracy points fp16 storage may cost before the verdict says so


def to_fp16_storage(source, target) -> None:
    """Every float32 initializer as float16 plus a Cast node restoring float32."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    casts, kept = [], []
    for tensor in graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT:
            kept.append(tensor)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16),
                                       f"{tensor.name}_fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [tensor.name],
                                      to=onnx.TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = [*casts, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


@register_posttrain_method
class Fp16Storage(PostTrainMethod):
    name = "fp16"
    label = "fp16 weights"

    def variants(self, model, dataset, config):
        return [self.name]

    def describe(self, summary):
        return f"fp16 weights ({summary['storage_bytes']} bytes)"

    def verdict(self, result, base):
        measured = compare_outcomes(result, base)
        if result.accuracy is None or base.accuracy is None:
            return measured
        kept = base.accuracy - result.accuracy <= MAX_DROP
        return f"fp16 {'keeps' if kept else 'loses'} accuracy: {measured}"

    def run(self, job):
        from archopt.bench.env import environment
        from archopt.bench.jobs import benchmark_images
        from archopt.io import atomic_path, write_json_atomic
        from archopt.models import count_params
        from archopt.posttrain.jobs import accuracy_record, write_summary
        from archopt.posttrain.measure import candidate_result, time_interleaved
        from archopt.runtimes import deployed_runtime
        from archopt.train.checkpoint import load_weights

        bench = job.settings.bench  # the bench stage's settings: timed like every network
        model = load_weights(job.checkpoint, job.name.model, job.dataset)
        images, labels = benchmark_images(job.data_marker, job.dataset, bench.images)
        job.artifacts.mkdir(parents=True, exist_ok=True)
        with atomic_path(job.deployable) as tmp:
            to_fp16_storage(job.fp32_onnx, tmp)
        runtime, threads = deployed_runtime(), bench.threads
        files = {"fp32": job.fp32_onnx, "fp16": job.deployable}
        runners = {key: runtime.load(str(path), model, "cpu", threads) for key, path in files.items()}
        timed = time_interleaved(runners, images, bench)  # the bench protocol, exactly
        entry = candidate_result(*timed["fp16"], labels) | bench.protocol()
        write_json_atomic(job.bench, {
            "model": str(job.name), "dataset": job.dataset, "device": "cpu",
            "images": len(images), runtime.name: entry,
            "env": environment(threads), "storage": {"onnx_bytes": job.deployable.stat().st_size}})
        shutil.copyfile(job.fp32_onnx, job.artifacts / "fp32.onnx")
        write_summary(job, accuracy_record(timed["fp16"][1], labels) | {
            "params": count_params(model), "storage_bytes": job.deployable.stat().st_size})
