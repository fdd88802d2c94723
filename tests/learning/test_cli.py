import pytest
from click.testing import CliRunner

from ledgerlearn.cli import main


def test_help_of_every_data_command():
    runner = CliRunner()
    for args in (["data"], ["data", "download"], ["data", "info"], ["data", "partition"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage:" in result.output


def test_partition_prints_the_table_and_writes_a_png(tmp_path):
    png = tmp_path / "parts.png"
    result = CliRunner().invoke(
        main,
        [
            "data",
            "partition",
            "digits",
            "-n",
            "3",
            "--scheme",
            "shards",
            "--classes-per-provider",
            "2",
            "--plot",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["provider", "size", "classes"]
    assert [line.split()[2] for line in lines[1:4]] == ["2", "2", "2"]
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_errors_are_reported_without_tracebacks(tmp_path):
    result = CliRunner().invoke(main, ["data", "info", "mnist", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "ledgerlearn data download mnist" in result.output
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ("train-images-idx3-ubyte.gz",):
        (mirror / name).write_bytes(b"junk")
    result = CliRunner().invoke(
        main, ["data", "download", "mnist", str(tmp_path / "out"), "--base-url", mirror.as_uri()]
    )
    assert result.exit_code == 1
    assert "SHA-256" in result.output


def test_an_option_the_scheme_does_not_take_is_refused_by_name():
    runner = CliRunner()
    result = runner.invoke(main, ["data", "partition", "digits", "-n", "4", "--scheme", "shards",
                                  "--alpha", "0.3"])
    assert result.exit_code == 2
    assert "--alpha does not apply to --scheme shards; shards takes --classes-per-provider" in (
        result.output)
    assert "unexpected keyword" not in result.output
    from ledgerlearn.learning.errors import PartitionError
    from ledgerlearn.learning.partition import partition

    with pytest.raises(PartitionError, match="scheme 'iid' does not take alpha"):
        partition([0, 1, 0, 1], 2, "iid", 0, alpha=0.3)
