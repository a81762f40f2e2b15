/** Entry point `pulumi up` loads (Pulumi.yaml `main: infra/`); the stack outputs are its result. */
import { mogiProgram } from "./program";

export = mogiProgram;
