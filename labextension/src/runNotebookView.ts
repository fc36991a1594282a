/** "Run as job…" on a notebook: the same form as a template's, read from the notebook's
 * parameters cell; Run submits the notebook's saved text (POST /jobs). */
import type { Contents } from '@jupyterlab/services';
import { ApiError } from './api';
import { Context, h, replace } from './dom';
import { ParameterForm } from './form';
import { notebookParameters } from './logic';
import { OPEN } from './sidebar';
import { button, section, View } from './view';

export class RunNotebookView extends View {
  constructor(
    ctx: Context,
    readonly path: string,
    private readonly contents: Contents.IManager
  ) {
    super(ctx);
    this.addClass('jp-LeptonLab-runView');
  }

  async load(): Promise<void> {
    const { trans, api } = this.ctx;
    const model = await this.contents.get(this.path, {
      content: true,
      type: 'file',
      format: 'text'
    });
    const text = model.content as string;
    const parameters = notebookParameters(JSON.parse(text));
    const form = parameters ? new ParameterForm(parameters, trans) : null;
    const gpus = h('input', {
      type: 'number',
      min: 0,
      value: '0',
      class: 'jp-mod-styled',
      'aria-label': trans.__('GPUs')
    });
    const name = this.path.split('/').pop()!;
    const run = button(trans.__('Run'), () => {
      const values = form ? form.read() : {};
      if (values === null) {
        return;
      }
      run.disabled = true;
      void this.attempt(async () => {
        try {
          const job = await api.submit({
            notebook: text,
            notebook_name: name,
            ...(form ? { parameters: values } : {}),
            gpus: Number(gpus.value) || 0
          });
          await this.ctx.commands.execute(OPEN.jobs.command, { id: job.id });
        } catch (error) {
          if (error instanceof ApiError && form) {
            form.showServerError(error.message);
          }
          throw error;
        } finally {
          run.disabled = false;
        }
      });
    });
    run.classList.add('jp-mod-accept');
    replace(
      this.body,
      h('h2', {}, trans.__('Run %1 as a job', name)),
      h(
        'p',
        { class: 'jp-LeptonLab-meta' },
        trans.__(
          'The saved notebook runs on a fresh kernel on a runner; its output notebook is kept with the job.'
        )
      ),
      section(
        trans.__('Parameters'),
        form
          ? form.node
          : h(
              'p',
              { class: 'jp-LeptonLab-muted' },
              trans.__(
                'This notebook has no cell tagged "parameters": it runs as it is.'
              )
            ),
        h(
          'div',
          { class: 'jp-LeptonLab-actions' },
          h('label', { class: 'jp-LeptonLab-inline' }, trans.__('GPUs'), ' ', gpus),
          run
        )
      )
    );
  }
}
