/**
 * The stack's configuration: every `mogi:*` setting, typed, defaulted and validated in one place
 * before any resource is declared, and the stack's keys checked the way a Pulumi user writes
 * them. An invalid stack gets every problem at once, each naming the key and the value.
 *
 * - schema.ts: the settings, their types and defaults, and the checks one setting makes alone;
 * - crossField.ts: checks across settings (production pins, prefixes, Consul's CA);
 * - settings.ts: parseSettings, the two together;
 * - stackConfig.ts: parseStackConfig, a stack's `<namespace>:<key>` configuration (flat keys,
 *   other namespaces, secrets) before parseSettings;
 * - problems.ts, suggest.ts, quantity.ts: how a problem is said, "did you mean", quantities;
 * - kubeconfig.ts: the kubeconfig and context `mogi:kubernetes` (or the environment) gives the
 *   provider, checked by `npm run deploy` and `npm run status` before they reach the cluster.
 */
export { CONFIG_NAMESPACE, ENVIRONMENTS, PDB_MODES, SECRET_SETTINGS, type PdbMode, type Settings, type SettingsContext } from "./schema";
export { ConfigError, formatProblem, keyText, type ConfigPath, type ConfigProblem, type ConfigSource } from "./problems";
export { imagePinProblem } from "./crossField";
export { parseSettings } from "./settings";
export { parseStackConfig } from "./stackConfig";
export { quantityValue } from "./quantity";
