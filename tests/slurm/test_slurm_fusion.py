"""``merginguriel fusion --fusion-type all --launcher slurm`` on a real Slurm cluster: the four fusion types as the
four tasks of one sbatch array job, each trained in its own process, with the outputs the local run writes.
Skips, with the reason, without a cluster (``.ci/slurm_setup.sh`` starts one)."""

from __future__ import annotations

from pathlib import Path

from merginguriel.cli.commands import fusion as fusion_cmd
from tests.slurm.conftest import SlurmCluster
from tests.slurm.test_slurm_sweep import SLURM_FLAGS, job_id, sacct_states
from tests.training.conftest import tiny_data  # noqa: F401 (fixture)
from tests.training.test_fusion_all import check_outputs, fusion_argv


def test_fusion_types_run_as_one_slurm_array_job(
    slurm_cluster: SlurmCluster,
    tmp_path: Path,
    tiny_base: Path,
    tiny_data: Path,  # noqa: F811 (the fixture imported above)
    locale_models,
    capsys,
) -> None:
    root = locale_models(["de-DE", "nl-NL"])
    out = tmp_path / "fusion"
    assert fusion_cmd.main(fusion_argv(root, tiny_base, tiny_data, out, *SLURM_FLAGS)) == 0
    job = job_id(capsys.readouterr().out, 4)
    check_outputs(out)
    assert sacct_states(job) == {f"{job}_{i}": "COMPLETED" for i in range(4)}
    script = (out / "slurm_logs" / job / f"{job}_submission.sh").read_text()
    assert (
        "#SBATCH --job-name=merginguriel_fusion_de-DE+nl-NL\n" in script
        and "#SBATCH --array=0-3%2\n" in script
    )
