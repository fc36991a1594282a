/** A template's tab: its description, a parameter form from its schema, Run. */
import { ApiError } from './api';
import { Context, h, replace } from './dom';
import { ParameterForm } from './form';
import { OPEN } from './sidebar';
import { button, section, View } from './view';

export class TemplateView extends View {
  constructor(
    ctx: Context,
    readonly name: string
  ) {
    super(ctx);
    this.addClass('jp-LeptonLab-templateView');
  }

  async load(): Promise<void> {
    const { api, trans } = this.ctx;
    const template = await api.template(this.name);
    const form = new ParameterForm(template.parameters, trans);
    const gpus = h('input', {
      type: 'number',
      min: 0,
      class: 'jp-mod-styled',
      value: String(template.gpus),
      'aria-label': trans.__('GPUs')
    });
    const run = button(trans.__('Run'), () => {
      const parameters = form.read();
      if (parameters === null) {
        return;
      }
      run.disabled = true;
      void this.attempt(async () => {
        try {
          const job = await api.submit({
            template: this.name,
            parameters,
            gpus: Number(gpus.value) || 0
          });
          await this.ctx.commands.execute(OPEN.jobs.command, { id: job.id });
        } catch (error) {
          if (error instanceof ApiError) {
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
      h('h2', {}, template.title || template.name),
      h(
        'p',
        { class: 'jp-LeptonLab-meta' },
        `${template.team ? template.team + '/' : ''}${template.name}@${template.version} · ${template.kernel}`,
        ' ',
        template.tags.map(t => h('span', { class: 'jp-LeptonLab-badge' }, t))
      ),
      template.description
        ? h(
            'div',
            { class: 'jp-LeptonLab-description' },
            this.ctx.markdown(template.description)
          )
        : null,
      section(
        trans.__('Parameters'),
        form.node,
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
