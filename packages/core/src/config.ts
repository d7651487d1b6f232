/**
 * Typed configuration from the environment. Each service declares one zod
 * object schema whose keys carry their units (`leaseDurationMs`); this module
 * maps every key to an environment variable `PREFIX_KEY_IN_SNAKE_CASE`,
 * rejects unknown variables under the prefix (a typo must not silently fall
 * back to a default), and fails fast with every problem in one message.
 */
import { z } from 'zod';

/** `maxStagedBytes` -> `MAX_STAGED_BYTES`. */
export function envName(prefix: string, key: string): string {
  return `${prefix}_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Schemas whose empty value (`FOO_METRICS_LISTEN_ADDRESS=`) means "off" rather
 * than "use the default": elsewhere an empty variable falls back to the
 * default, as compose and k8s files leave unset values empty.
 */
const emptyMeansOff = new WeakSet<z.ZodType>();

/**
 * A listener address (host:port) with a default, where an empty value disables
 * the listener: `config.x === ''` then, and the service must not listen.
 */
export function disableableAddress(fallback: string): z.ZodDefault<z.ZodString> {
  const schema = z.string().default(fallback);
  emptyMeansOff.add(schema);
  return schema;
}

/** Environment variable names a schema accepts, by config key. */
export function configEnvNames(prefix: string, schema: z.ZodObject): Record<string, string> {
  return Object.fromEntries(Object.keys(schema.shape).map((key) => [key, envName(prefix, key)]));
}

/**
 * Parses `env` against `schema`. Values are strings in the environment; the
 * schema should use `z.coerce` (or the helpers below) for numbers and booleans.
 */
export function loadConfig<S extends z.ZodObject>(
  prefix: string,
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const names = configEnvNames(prefix, schema);
  const known = new Set(Object.values(names));
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith(`${prefix}_`) && !known.has(name)) {
      problems.push(`${name} is not a setting of this service (known: ${[...known].sort().join(', ')})`);
    }
  }
  const raw: Record<string, string> = {};
  for (const [key, name] of Object.entries(names)) {
    const value = env[name];
    if (value === undefined) continue;
    if (value !== '' || emptyMeansOff.has(schema.shape[key] as z.ZodType)) raw[key] = value;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '');
      problems.push(`${names[key] ?? key}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return parsed.data;
}

/** A boolean from the environment: `true/false/1/0/yes/no`. */
export const envBoolean = () =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A positive integer, coerced from a string. */
export const positiveInt = () => z.coerce.number().int().positive();

/** Copy of `config` with every key that looks secret replaced, for logging. */
export function redactConfig(config: Record<string, unknown>): Record<string, unknown> {
  const secret = /(key|kek|secret|token|password|url)$/i;
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, secret.test(k) && v !== undefined ? redactValue(k, v) : v]),
  );
}

function redactValue(key: string, value: unknown): unknown {
  // URLs keep their host so operators can see where a service points; only credentials go.
  if (/url$/i.test(key) && typeof value === 'string') {
    try {
      const u = new URL(value);
      if (u.password) u.password = '***';
      if (u.username) u.username = '***';
      return u.toString();
    } catch {
      return '***';
    }
  }
  return /file$/i.test(key) ? value : '***';
}
