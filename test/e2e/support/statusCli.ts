/**
 * `npm run status -- --stack <the environment's stack> --json` in the e2e project, as an operator runs it (with the
 * management token, read-only use). Every run is checked (no secret printed, exit code and
 * verdict agree) and kept, so that a suite can report how many it made.
 */
import type { DeployEnvironment } from "./deployEnvironment";
import { waitFor } from "./processes";

export interface StatusCheck {
  check: string;
  ok: boolean;
  message: string;
}

export interface StatusReport {
  verdict: "healthy" | "degraded";
  exitCode: number;
  holder: string | null;
  checks: StatusCheck[];
}

export class StatusCli {
  readonly runs: { verdict: string; holder: string | null; failing: string[] }[] = [];

  constructor(private readonly env: DeployEnvironment) {}

  async run(): Promise<{ code: number; report: StatusReport }> {
    const run = await this.env.project.run(["run", "--silent", "status", "--", "--stack", this.env.shape.stack, "--json"], { CONSUL_HTTP_TOKEN: this.env.consul.managementToken });
    if (run.output.includes(this.env.consul.managementToken)) throw new Error("npm run status printed the management token");
    const report = JSON.parse(run.output.trim().split("\n").pop() as string) as StatusReport;
    if (report.exitCode !== run.code) throw new Error(`npm run status exited ${run.code} but reported exitCode ${report.exitCode}`);
    if ((run.code === 0) !== (report.verdict === "healthy")) throw new Error(`npm run status: exit ${run.code} with verdict ${report.verdict}`);
    this.runs.push({ verdict: report.verdict, holder: report.holder, failing: report.checks.filter((c) => !c.ok).map((c) => c.check) });
    return { code: run.code, report };
  }

  /** The failing checks of a run, by name. */
  static failing(report: StatusReport): Record<string, string> {
    return Object.fromEntries(report.checks.filter((c) => !c.ok).map((c) => [c.check, c.message]));
  }

  /** Waits until status says healthy with this holder (readiness follows Mogi within a probe period). */
  async expectHealthy(holder: string | undefined, timeoutMs = 60_000): Promise<void> {
    await waitFor(`status to report healthy with holder ${holder}`, async () => {
      const { code, report } = await this.run();
      return code === 0 && report.verdict === "healthy" && report.holder === holder;
    }, timeoutMs, 500);
  }

  /**
   * Waits until status says degraded (exit 1) and `reason` holds for its failing checks; returns
   * them. The reason is how the tests assert what status says, not only its verdict.
   */
  async expectDegraded(what: string, reason: (failing: Record<string, string>) => boolean, timeoutMs = 60_000): Promise<Record<string, string>> {
    let last: Record<string, string> = {};
    try {
      return await waitFor(`status to report degraded: ${what}`, async () => {
        const { code, report } = await this.run();
        last = StatusCli.failing(report);
        return code === 1 && report.verdict === "degraded" && reason(last) ? last : undefined;
      }, timeoutMs, 1000);
    } catch (error) {
      throw new Error(`${(error as Error).message}; last failing checks: ${JSON.stringify(last)}`);
    }
  }
}
