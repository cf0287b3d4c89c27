"""Command-line entry points of the tools (kept out of the library modules).

me_perception_offline RECORDING --out DIR  (offline_main: tools.offline)
me_perception_batch INPUTS --out DIR     (batch_main: tools.batch, tools.batch_summary)
me_perception_convert RECORDING OUT_BAG  (convert_main: recording.conversion)
me_perception_webcam --device 0          (webcam_main: tools.webcam)
me_perception_play BAG --lockstep TOPIC  (play_main: recording.replay)
me_perception_make_sample OUT_DIR        (make_sample_main: tools.sample_recording)
me_perception_make_eval_set OUT_DIR      (make_eval_set_main: tools.eval_set)
me_perception_pipeline_eval SET --model M (pipeline_eval_main: tools.pipeline_eval, eval_scoring)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from me_perception.perception.pipeline import PipelineConfig
from me_perception.recording.errors import RecordingError
from me_perception.recording.replay import play
from me_perception.tools.batch import Outcome
from me_perception.tools.offline import default_output, process_recording
from me_perception.tools.offline_outputs import format_summary
from me_perception.tools.sample_recording import make_sample


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="me_perception_offline",
        description="Spot and recognise micro-expressions in a recording: a rosbag2 "
        "(sqlite3/mcap), a video file (mp4, mkv, avi, mov, ...) or a folder of frames.",
    )
    p.add_argument("recording", help="bag directory, video file or folder of frame images")
    p.add_argument("--topic", help="image topic of a bag (default: the bag's only image topic)")
    p.add_argument(
        "--fps", type=float, help="frame rate of a frame folder whose names carry none (e.g. 200)"
    )
    p.add_argument("--out", help="output directory (default: <recording>_me_perception beside it)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output dir (only a previous output of this tool)",
    )
    p.add_argument("--ground-truth", help="ground truth JSON (default: <bag>/ground_truth.json)")
    _model_args(p, threads=2)
    p.add_argument("--namespace", default="/me_perception", help="namespace of output topics")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-pictures", action="store_true", help="no picture per event (faster)")
    return p


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: the staging folder is removed


def offline_main(argv: list[str] | None = None) -> int:
    """``me_perception_offline``: process a recording with the live node's pipeline."""
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    out = Path(args.out) if args.out else default_output(args.recording)
    config = PipelineConfig(model_path=args.model, backend=args.backend, num_threads=args.threads)
    try:
        report = process_recording(
            args.recording,
            out,
            topic=args.topic,
            fps=args.fps,
            config=config,
            ground_truth=args.ground_truth,
            namespace=args.namespace,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            pictures=not args.no_pictures,
        )
    except RecordingError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    print(format_summary(report))
    return 0


def _model_args(p: argparse.ArgumentParser, threads: int) -> None:
    p.add_argument(
        "--model",
        default="",
        help="roi_flow (the training-free spotter), network (the shipped network), a model "
        "directory or .onnx (default: the shipped default, roi_flow)",
    )
    p.add_argument("--backend", default="auto", help="auto, onnxruntime, torch, tensorrt, ...")
    p.add_argument("--threads", type=int, default=threads, help="CPU threads for inference")


def batch_main(argv: list[str] | None = None) -> int:
    """``me_perception_batch``: many recordings in parallel, resumable, one summary table."""
    from tqdm import tqdm

    from me_perception.tools.batch import plan_jobs, prepare_root, run_dask, run_local, worker_count
    from me_perception.tools.batch_summary import summary_rows, write_summary

    p = argparse.ArgumentParser(prog="me_perception_batch", description=batch_main.__doc__)
    p.add_argument("inputs", nargs="*", help="recordings, or folders searched for recordings")
    p.add_argument("--list", type=Path, help="a text file with one input path per line")
    p.add_argument("--out", type=Path, help="results folder (default: <input>_me_perception_batch)")
    p.add_argument("--workers", type=int, help="parallel recordings (default: CPU count)")
    p.add_argument("--dask", metavar="ADDRESS", help="a Dask scheduler, or 'local' (LocalCluster)")
    p.add_argument("--fps", type=float, help="frame rate of frame folders whose names carry none")
    p.add_argument("--topic", help="image topic of the bags (default: each bag's only one)")
    _model_args(p, threads=1)
    p.add_argument("--no-pictures", action="store_true", help="no picture per event (faster)")
    p.add_argument("--overwrite", action="store_true", help="redo recordings finished earlier")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    inputs = [Path(i) for i in args.inputs]
    if args.list:
        try:
            lines = args.list.read_text().splitlines()
        except OSError as exc:
            print(f"error: cannot read {args.list}: {exc.strerror}", file=sys.stderr)
            return 2
        inputs += [Path(line.strip()) for line in lines if line.strip() and line[0] != "#"]
    if not inputs:
        p.error("give recordings or folders (or --list FILE)")
    if args.out is None and len(inputs) > 1:
        p.error("--out is needed with several inputs")
    out = args.out or Path(str(inputs[0].resolve()) + "_me_perception_batch")
    config = PipelineConfig(model_path=args.model, backend=args.backend, num_threads=args.threads)
    options = {"fps": args.fps, "topic": args.topic, "pictures": not args.no_pictures}
    try:
        jobs = plan_jobs(inputs, out, config, overwrite=args.overwrite, **options)
        prepare_root(out)
    except RecordingError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    workers = worker_count(args.workers, len(jobs))
    where = f"Dask {args.dask}" if args.dask else f"{workers} local worker process(es)"
    print(f"{len(jobs)} recording(s) -> {out} on {where}", flush=True)
    bar = tqdm(total=len(jobs), unit="rec", disable=args.no_progress, file=sys.stderr)

    def on_done(o: Outcome) -> None:
        what = {"done": f"{o.frames} frames in {o.wall_s:.1f} s", "skipped": "finished earlier"}
        bar.write(f"{o.status:7s} {o.name}: {what.get(o.status, o.error)}", file=sys.stdout)
        bar.update()

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        if args.dask:
            outcomes = run_dask(jobs, args.dask, workers, on_done)
        else:
            outcomes = run_local(jobs, workers, on_done)
    except RecordingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished recordings are kept; run again to resume", file=sys.stderr)
        return 130
    finally:
        bar.close()
    csv_path, html_path = write_summary(out, summary_rows(jobs, outcomes))
    failed = [o for o in outcomes if o.status == "failed"]
    print(f"summary: {csv_path}\nindex:   {html_path}")
    if failed:
        print(f"{len(failed)} of {len(jobs)} recording(s) failed (listed above)", file=sys.stderr)
    return 1 if failed else 0


def convert_main(argv: list[str] | None = None) -> int:
    """``me_perception_convert``: a video file or frame folder into a rosbag2 for replay."""
    from me_perception.recording.bag_io import StoragePlugin
    from me_perception.recording.conversion import FORMATS, convert_to_bag

    p = argparse.ArgumentParser(prog="me_perception_convert", description=convert_main.__doc__)
    p.add_argument("recording", help="video file or folder of frame images")
    p.add_argument("out_bag", help="bag directory to create (must not exist)")
    p.add_argument("--fps", type=float, help="frame rate of a frame folder whose names carry none")
    p.add_argument("--topic", default="/camera/image_raw", help="image topic (+ /compressed)")
    p.add_argument("--format", choices=FORMATS, default="jpeg", help="frames in the bag")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    args = p.parse_args(argv)
    storage = StoragePlugin.MCAP if args.storage == "mcap" else StoragePlugin.SQLITE3
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        done = convert_to_bag(
            args.recording,
            args.out_bag,
            fps=args.fps,
            topic=args.topic,
            fmt=args.format,
            storage=storage,
        )
    except RecordingError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return 130
    for note in done.notes:
        print(f"note: {note}")
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(done.skipped.items()))
    print(f"wrote {done.frames} frames on {done.topic} to {done.bag}")
    if skipped:
        print(f"skipped frames that could not be decoded: {skipped}")
    print(f"replay: me_perception_play {done.bag} --lockstep /me_perception/state")
    return 0


def webcam_main(argv: list[str] | None = None) -> int:
    """``me_perception_webcam``: the pipeline on a camera (or a video file standing in for
    one), without ROS: a live window with the overlay where a display exists, events printed,
    the session optionally recorded to a bag."""
    from me_perception.perception.pipeline import ModelNotFoundError, Pipeline
    from me_perception.tools.webcam import run_session

    p = argparse.ArgumentParser(prog="me_perception_webcam", description=webcam_main.__doc__)
    p.add_argument("--device", default="0", help="camera index, /dev/videoN, or a video file")
    p.add_argument("--every-frame", action="store_true", help="a file: every frame, unpaced")
    p.add_argument("--record", type=Path, help="write the session (frames + results) to this bag")
    p.add_argument("--no-window", action="store_true", help="print events only")
    p.add_argument("--frames", type=int, default=0, help="stop after this many frames")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this many seconds")
    _model_args(p, threads=2)
    args = p.parse_args(argv)
    config = PipelineConfig(model_path=args.model, backend=args.backend, num_threads=args.threads)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        pipeline = Pipeline(config)
    except (ModelNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: cannot load the model: {exc}", file=sys.stderr)
        return 2
    try:
        session = run_session(
            pipeline,
            args.device,
            every_frame=args.every_frame,
            record=args.record,
            window=not args.no_window,
            max_frames=args.frames,
            seconds=args.seconds,
            say=lambda line: print(line, flush=True),
        )
    except RecordingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        pipeline.close()
    print(
        f"{session.frames} frames processed, {session.skipped} skipped (the pipeline was "
        f"busy), {len(session.events)} event line(s)"
    )
    if session.record is not None:
        print(f"recorded {session.record}")
    return 0


def play_main(argv: list[str] | None = None) -> int:
    """``me_perception_play``: play a rosbag2 recording onto ROS topics, with /clock."""
    p = argparse.ArgumentParser(prog="me_perception_play", description=play_main.__doc__)
    p.add_argument("bag")
    p.add_argument("--topics", nargs="*", help="topics to play (default: image topics)")
    p.add_argument("--rate", type=float, default=1.0, help="speed factor (0: as fast as possible)")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument("--lockstep", help="wait for a message on this topic after each frame")
    p.add_argument("--remap", nargs="*", default=[], help="OLD:=NEW topic remappings")
    args = p.parse_args(argv)
    remap = dict(r.split(":=", 1) for r in args.remap)
    try:
        sent = play(
            args.bag,
            topics=args.topics,
            rate=args.rate,
            clock=not args.no_clock,
            lockstep=args.lockstep,
            remap=remap,
        )
    except RecordingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(f"played {sent} messages from {args.bag}")
    return 0


def make_sample_main(argv: list[str] | None = None) -> int:
    """``me_perception_make_sample``: write the sample recording (bag + ground truth)."""
    p = argparse.ArgumentParser(
        prog="me_perception_make_sample", description=make_sample_main.__doc__
    )
    p.add_argument("out_dir", help="bag directory to create (must not exist)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--subject", type=int, default=0, help="synthetic subject (0: the photograph)")
    args = p.parse_args(argv)
    if Path(args.out_dir).exists():
        print(f"error: {args.out_dir} exists", file=sys.stderr)
        return 2
    out = make_sample(args.out_dir, args.seconds, args.fps, args.seed, args.subject)
    truth = json.loads((out / "ground_truth.json").read_text())
    print(f"wrote {out} ({truth['frames']} frames)")
    for e in truth["events"]:
        print(f"  {e['kind']:5s} {e['onset_s']:.2f}-{e['offset_s']:.2f} s  {e.get('label5') or ''}")
    return 0


def make_eval_set_main(argv: Sequence[str] | None = None) -> int:
    """``me_perception_make_eval_set``: write a held-out evaluation set (sample-like
    recordings of one identity per generator and frame rate, still recordings, a manifest)."""
    from me_perception.tools.eval_set import EvalSetConfig, make_eval_set

    ap = argparse.ArgumentParser(
        prog="me_perception_make_eval_set", description=make_eval_set_main.__doc__
    )
    ap.add_argument("out_dir", type=Path, help="folder to create (must not exist or be empty)")
    ap.add_argument("--identity", default="astronaut", help="face identity (astronaut, ...)")
    ap.add_argument("--count", type=int, default=3, help="recordings per generator and fps")
    ap.add_argument("--fps", type=float, nargs="+", default=[30.0, 200.0])
    ap.add_argument("--generator", nargs="+", default=["ours"], help="ours, independent")
    ap.add_argument("--stills", type=int, default=2, help="still recordings per generator")
    ap.add_argument("--seed", type=int, default=1000, help="recording i uses seed + i")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each recording")
    a = ap.parse_args(argv)
    cfg = EvalSetConfig(
        identity=a.identity,
        count=a.count,
        fps=tuple(a.fps),
        generators=tuple(a.generator),
        stills=a.stills,
        seed=a.seed,
        seconds=a.seconds,
        still_seconds=a.seconds,
    )
    try:
        manifest = make_eval_set(a.out_dir, cfg, say=lambda line: print(line, flush=True))
    except (FileExistsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"manifest: {manifest}")
    return 0


def pipeline_eval_main(argv: Sequence[str] | None = None) -> int:
    """``me_perception_pipeline_eval``: run each model through the real pipeline over every
    recording of an evaluation set (me_perception_make_eval_set) and score the events it
    emits: micro/macro spotting, labels, micro-expressions on blinks and head movements,
    quiet still faces. Prints a Markdown table per model."""
    from me_perception.tools.eval_scoring import format_markdown
    from me_perception.tools.pipeline_eval import evaluate_set, json_safe

    ap = argparse.ArgumentParser(
        prog="me_perception_pipeline_eval", description=pipeline_eval_main.__doc__
    )
    ap.add_argument("eval_set", type=Path, help="folder with manifest.json")
    ap.add_argument(
        "--model",
        action="append",
        required=True,
        help="model for PipelineConfig.model_path (directory, .onnx, '' = shipped, or a name "
        "the pipeline knows); repeat for several",
    )
    ap.add_argument("--backend", default="auto", help="auto, onnxruntime, torch, tensorrt, ...")
    ap.add_argument("--workers", type=int, default=2, help="processes (0: in this process)")
    ap.add_argument("--json", type=Path, help="write everything (per recording too) here")
    ap.add_argument("--markdown", type=Path, help="write the tables here")
    a = ap.parse_args(argv)

    def done(row: dict) -> None:
        n = sum(e["kind"] == "micro" for e in row["events"])
        what = f"{row['scores']['frames']} frames, {len(row['events'])} events ({n} micro)"
        print(f"{row['model'] or '(shipped)'} {row['path']}: {what}, {row['wall_s']:.1f} s")

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        report = evaluate_set(a.eval_set, a.model, a.workers, a.backend, on_done=done)
    except (OSError, RecordingError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = format_markdown(report["summary"])
    print(table)
    if a.markdown:
        a.markdown.write_text(table)
    if a.json:
        a.json.write_text(json.dumps(json_safe(report), indent=2) + "\n")
    return 0
