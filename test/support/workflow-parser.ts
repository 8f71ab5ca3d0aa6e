import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  convertWorkflowTemplate,
  isMapping,
  isSequence,
  NoOperationTraceWriter,
  parseWorkflow,
  type WorkflowTemplate,
} from '@actions/workflow-parser';
import {
  type ActionTemplate,
  convertActionTemplate,
  parseAction,
} from '@actions/workflow-parser/actions/index';
import type { TemplateToken } from '@actions/workflow-parser/templates/tokens/template-token';
import type { FileProvider } from '@actions/workflow-parser/workflows/file-provider';
import { parseCanaryConfig } from '../../src/canary/config.js';

/**
 * Workflows and action.yml files read by GitHub's own parser (@actions/workflow-parser, the one behind
 * the VS Code extension): the schema, expressions, `needs`, permissions and step ids are checked as
 * GitHub checks them, so a workflow that GitHub would refuse fails here with the parser's message.
 */

/** A `uses:` step with its `with:` values as written (expressions as `${{ ... }}`). */
export interface UsesStep {
  job: string;
  uses: string;
  with: Record<string, string>;
}

export interface ParsedWorkflow {
  template: WorkflowTemplate;
  steps: UsesStep[];
}

/** Reusable workflows are read from this checkout; a remote one cannot be checked, so it is an error. */
const localFiles: FileProvider = {
  async getFileContent(ref) {
    if ('repository' in ref) throw new Error(`remote reusable workflow ${ref.owner}/${ref.repository}`);
    return { name: ref.path, content: readFileSync(ref.path, 'utf8') };
  },
};

/** Parses and converts a workflow; throws with every error the parser reports, each with its line. */
export async function parseWorkflowText(name: string, content: string): Promise<ParsedWorkflow> {
  const parsed = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  if (!parsed.value) throw new WorkflowError(name, parsed.context.errors.getErrors().map(String));
  const template = await convertWorkflowTemplate(parsed.context, parsed.value, localFiles, {
    fetchReusableWorkflowDepth: 1,
  });
  if (template.errors?.length)
    throw new WorkflowError(
      name,
      template.errors.map((e) => e.Message),
    );
  return { template, steps: usesSteps(template, parsed.value) };
}

export function parseWorkflowFile(path: string): Promise<ParsedWorkflow> {
  return parseWorkflowText(path, readFileSync(path, 'utf8'));
}

/** A workflow or action.yml that GitHub would refuse, with each of the parser's messages. */
export class WorkflowError extends Error {
  constructor(
    readonly file: string,
    readonly errors: string[],
  ) {
    super(`GitHub's parser refuses ${file}:\n${errors.join('\n')}`);
  }
}

/**
 * The converted template drops `with:`, so each converted step is paired with its token in the parse
 * tree. Conversion without errors converts every item of `steps`, in order, which makes the index a safe key.
 */
function usesSteps(template: WorkflowTemplate, root: TemplateToken): UsesStep[] {
  const jobTokens = child(root, 'jobs');
  const steps: UsesStep[] = [];
  for (const job of template.jobs) {
    if (job.type !== 'job') continue;
    const stepTokens = child(child(jobTokens, job.id.value), 'steps');
    if (!stepTokens || !isSequence(stepTokens) || stepTokens.count !== job.steps.length)
      throw new Error(`job ${job.id.value}: the parser's steps and the converted steps disagree`);
    job.steps.forEach((step, i) => {
      if (!('uses' in step)) return;
      const withToken = child(stepTokens.get(i), 'with');
      const values: Record<string, string> = {};
      if (withToken && isMapping(withToken))
        for (const { key, value } of withToken) values[key.toString()] = value.toString();
      steps.push({ job: job.id.value, uses: step.uses.value, with: values });
    });
  }
  return steps;
}

function child(token: TemplateToken | undefined, key: string): TemplateToken | undefined {
  return token && isMapping(token) ? token.find(key) : undefined;
}

/** Parses and converts actions/<name>/action.yml with the action schema; throws with the parser's errors. */
export function parseActionFile(name: string): ActionTemplate {
  const path = join('actions', name, 'action.yml');
  const parsed = parseAction(
    { name: path, content: readFileSync(path, 'utf8') },
    new NoOperationTraceWriter(),
  );
  const errors = parsed.context.errors.getErrors().map(String);
  if (!parsed.value || errors.length > 0) throw new WorkflowError(path, errors);
  return convertActionTemplate(parsed.context, parsed.value);
}

/**
 * `./actions/<name>` or `<owner>/mlgate/actions/<name>@<ref>` (the docs keep `<owner>` literally): a step
 * that runs an action of this repository.
 */
const MLGATE_ACTION = /^(?:\.\/actions\/|(?:[\w.-]+|<owner>)\/mlgate\/actions\/)([\w-]+)(?:@[\w.-]+)?$/;

export function mlgateAction(step: UsesStep): string | undefined {
  return MLGATE_ACTION.exec(step.uses)?.[1];
}

/**
 * What is wrong with a step that uses one of our actions: an action that does not exist, an input its
 * action.yml does not declare, a required input left out, an inline canary config the action refuses.
 */
export function mlgateStepProblems(step: UsesStep, where: string): string[] {
  const action = mlgateAction(step);
  if (!action) return [];
  let spec: ActionTemplate;
  try {
    spec = parseActionFile(action);
  } catch (e) {
    return [`${where}: ${step.uses}: ${(e as Error).message}`];
  }
  const declared = new Set(spec.inputs?.map((i) => i.id));
  const problems = [
    ...Object.keys(step.with)
      .filter((name) => !declared.has(name))
      .map((name) => `${where}: ${action} has no input "${name}"`),
    ...(spec.inputs ?? [])
      .filter((input) => input.required && !(input.id in step.with))
      .map((input) => `${where}: ${action} needs "${input.id}"`),
  ];
  if (action === 'canary-gate' && step.with.metrics) {
    try {
      if (parseCanaryConfig(step.with.metrics, where).metrics.length === 0)
        problems.push(`${where}: canary-gate metrics: no metric`);
    } catch (e) {
      problems.push(`${where}: canary-gate metrics: ${(e as Error).message}`);
    }
  }
  return problems;
}
