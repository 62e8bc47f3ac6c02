"""The command line for tabular users: fit -> predict -> rank -> report on real CSV and Parquet
files with a text, an image-path and a numeric column; errors in the file's own terms."""

import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sktransfer.cli import main
from sktransfer.datasets import write_review_table


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A real table: Rotten Tomatoes snippets, photos of digits as PNG paths, word counts."""
    return write_review_table(tmp_path_factory.mktemp("table"), n_rows=90)


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_fit_predict_rank_report_on_a_csv(table, tmp_path, capsys):
    model = tmp_path / "model.skops"
    code, out, _ = _run(
        [
            "fit", str(table), "--target", "label", "--text", "review", "--image", "photo",
            "--numeric", "n_words", "--cv", "3", "--id", "id", "-o", str(model), "--quiet",
        ],
        capsys,
    )  # fmt: skip
    assert code == 0 and model.is_file()
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    # Both pipelines scored, each with its columns: the encoders vs TF-IDF and raw pixels.
    assert "TextEncoder(all-MiniLM-L6-v2)[review]" in lines["transfer"]
    assert "ImageEncoder(efficientnet_lite0)[photo]" in lines["transfer"]
    assert "TfidfBaseline[review]" in lines["baseline"] and "[n_words]" in lines["baseline"]
    for kind in ("transfer", "baseline"):
        mean = float(lines[kind].split(" ± ")[0].split()[-1])
        assert 0.0 <= mean <= 1.0
    assert "Fitted on all 90 rows" in out

    # predict: new rows in another order, the id column kept, one probability per class.
    frame = pd.read_csv(table)
    new = table.parent / "new.csv"
    frame.drop(columns=["label", "digit"]).iloc[::-1].to_csv(new, index=False)
    predictions = tmp_path / "predictions.csv"
    code, out, _ = _run(["predict", str(model), str(new), "-o", str(predictions)], capsys)
    assert code == 0 and "90 predictions" in out
    result = pd.read_csv(predictions)
    assert list(result.columns) == [
        "id",
        "predicted_label",
        "probability_fresh",
        "probability_rotten",
    ]
    assert result["id"].tolist() == frame["id"].iloc[::-1].tolist()
    np.testing.assert_allclose(result[["probability_fresh", "probability_rotten"]].sum(axis=1), 1.0)
    picked = np.where(result["probability_fresh"] > 0.5, "fresh", "rotten")
    assert (result["predicted_label"] == picked).all()
    # Fitted on these rows: it knows most of their labels (the fit's own rows).
    truth = frame.set_index("id").loc[result["id"], "label"].to_numpy()
    assert (result["predicted_label"].to_numpy() == truth).mean() > 0.8

    # rank: the digit is in the photo; the pretrained network ranks, with a probe and a plot.
    plot = tmp_path / "rank.png"
    code, out, _ = _run(
        ["rank", str(table), "--target", "digit", "--image", "photo", "--quiet",
         "--models", "efficientnet_lite0,sktransfer/tiny-cnn", "--plot", str(plot)],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ranked = [line.split()[1] for line in out.splitlines()[1:3]]
    assert sorted(ranked) == ["efficientnet_lite0", "sktransfer/tiny-cnn"]
    assert "probe_score" in out.splitlines()[0]

    # report: does transfer help on the review column? Every approach and a verdict.
    plot = tmp_path / "report.png"
    code, out, _ = _run(
        ["report", str(table), "--target", "label", "--text", "review", "--cv", "3",
         "--no-fine-tune", "--no-scratch", "--quiet", "--plot", str(plot)],
        capsys,
    )  # fmt: skip
    assert code == 0 and plot.is_file()
    assert "pretrained features + linear" in out and "baseline: TF-IDF" in out
    assert any(word in out for word in ("Transfer helps", "No clear gain", "Negative transfer"))


@pytest.mark.slow
def test_fine_tune_on_parquet_and_predict_to_parquet(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    table = write_review_table(tmp_path / "data", n_rows=40, fmt="parquet")
    model = tmp_path / "tuned.skops"
    code, out, _ = _run(
        ["fit", str(table), "--target", "label", "--text", "review", "--fine-tune", "1",
         "--text-model", "sktransfer/tiny-text", "--cv", "0", "-o", str(model), "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0 and "cross-validated" not in out
    out_file = tmp_path / "predictions.parquet"
    code, _, _ = _run(["predict", str(model), str(table), "-o", str(out_file)], capsys)
    assert code == 0
    result = pd.read_parquet(out_file)
    # No --id at fit or predict: rows are numbered as the file numbers them.
    assert result["row"].tolist() == list(range(1, 41))
    assert set(result["predicted_label"]) <= {"fresh", "rotten"}


def test_regression_target_is_detected_and_uses_ridge(table, tmp_path, capsys):
    frame = pd.read_csv(table)
    frame["score"] = frame["n_words"] * 0.37 + 0.1  # fractions: a regression target
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    code, out, _ = _run(
        ["fit", str(path), "--target", "score", "--numeric", "n_words", "--cv", "2",
         "-o", str(tmp_path / "r.skops"), "--no-baseline"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert "R²" in out and "RidgeCV" in out
    # A linear target of the one numeric column: almost perfectly predicted.
    assert float(out.split("RidgeCV")[1].split()[0]) > 0.99


def _error(argv, capsys):
    code, _, err = _run(argv, capsys)
    assert code == 2, err
    assert err.startswith(f"sktransfer {argv[0]}: error: ")
    return err


def test_a_missing_column_is_named_with_the_columns_present(table, tmp_path, capsys):
    err = _error(
        ["fit", str(table), "--target", "label", "--text", "reveiw", "-o", str(tmp_path / "m")],
        capsys,
    )
    assert "--text 'reveiw'" in err
    assert "Its columns are: id, review, n_words, photo, label, digit" in err
    err = _error(
        ["fit", str(table), "--target", "stars", "--text", "review", "-o", str(tmp_path / "m")],
        capsys,
    )
    assert "no column 'stars'" in err


def test_a_missing_image_names_the_row_and_line_of_the_file(table, tmp_path, capsys):
    frame = pd.read_csv(table)
    frame.loc[6, "photo"] = "photos/nowhere.png"
    path = table.parent / "broken.csv"
    frame.to_csv(path, index=False)
    err = _error(
        ["fit", str(path), "--target", "digit", "--image", "photo", "-o", str(tmp_path / "m")],
        capsys,
    )
    assert "row 7 (line 8)" in err
    assert "'photos/nowhere.png'" in err and "not found" in err
    assert str(table.parent / "photos" / "nowhere.png") in err


def test_target_and_text_errors_say_what_was_expected(table, tmp_path, capsys):
    out = str(tmp_path / "m")
    err = _error(
        ["fit", str(table), "--target", "label", "--task", "regression", "--text", "review",
         "-o", out],
        capsys,
    )  # fmt: skip
    assert "needs numbers in the target column 'label'" in err and "'fresh'" in err
    assert "--task classification" in err
    frame = pd.read_csv(table)
    frame.loc[[2, 4], "review"] = np.nan
    path = tmp_path / "gaps.csv"
    frame.to_csv(path, index=False)
    err = _error(["fit", str(path), "--target", "label", "--text", "review", "-o", out], capsys)
    assert "empty in row 3 (line 4), row 5 (line 6)" in err
    err = _error(["fit", str(table), "--target", "id", "--text", "review", "-o", out], capsys)
    assert "90 distinct values in 90 rows" in err
    err = _error(["fit", str(table), "--target", "label", "-o", out], capsys)
    assert "--text, --image or --numeric" in err
    err = _error(["fit", str(table), "--target", "label", "--numeric", "review", "-o", out], capsys)
    assert "numeric column 'review' holds text in row 1 (line 2)" in err


def test_files_that_are_not_tables_or_models(table, tmp_path, capsys):
    notes = tmp_path / "notes.docx"
    notes.write_text("hello")
    err = _error(["fit", str(notes), "--target", "a", "--text", "b", "-o", "m"], capsys)
    assert "unknown file type '.docx'" in err
    err = _error(["predict", str(table), str(table)], capsys)
    assert "not a model file that sktransfer can load" in err
    err = _error(["fit", str(tmp_path / "absent.csv"), "--target", "a", "--text", "b", "-o", "m"],
                 capsys)  # fmt: skip
    assert "no such file" in err


def test_fine_tune_needs_a_single_column(table, tmp_path, capsys):
    err = _error(
        ["fit", str(table), "--target", "label", "--text", "review", "--image", "photo",
         "--fine-tune", "2", "-o", str(tmp_path / "m")],
        capsys,
    )  # fmt: skip
    assert "one network on one column" in err


def test_the_installed_command_runs():
    exe = shutil.which("sktransfer")
    cmd = [exe] if exe else [sys.executable, "-m", "sktransfer.cli"]
    done = subprocess.run([*cmd, "fit", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for option in ("--target", "--text", "--image", "--numeric", "--fine-tune", "--id"):
        assert option in done.stdout


@pytest.mark.slow
def test_demo_on_small_samples(capsys):
    from sktransfer.cli import demo

    results = demo(n_texts=60, n_images=60, folds=2)
    out = capsys.readouterr().out
    tasks = list(dict.fromkeys(r["task"] for r in results))
    assert tasks == ["Rotten Tomatoes (60)", "digits on photos (30)", "digits 8x8 (60)"]
    pipelines = [r["pipeline"] for r in results if r["task"] == tasks[1]]
    assert pipelines == [
        "ImageEncoder(efficientnet_lite0) + LogReg",
        "ImageClassifier(1 block, 10 epochs)",
        "raw pixels + LogReg (no transfer)",
        "majority class",
    ]
    for r in results:
        assert 0.0 <= r["mean"] <= 1.0 and r["seconds"] >= 0.0
        assert f"{r['task']:<24} {r['pipeline']:<46} {r['mean']:.3f}" in out
    # Ten classes of 8x8 digits, three of each per fold: the majority class is right 1 in 10.
    assert [r["mean"] for r in results if r["pipeline"] == "majority class"][-1] == 0.1
